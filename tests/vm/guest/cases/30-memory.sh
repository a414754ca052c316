# memory: A's app a/mem allocates 200 MiB in one mmap(MAP_POPULATE) (its
# tenant has memory: 64M; MemoryHigh= is 90% of it, and an app that grows
# page by page is throttled there for minutes without reaching MemoryMax,
# so the case allocates in one system call): the kernel OOM-kills it inside A's
# slice (journal: constraint CONSTRAINT_MEMCG, oom_memcg is A's slice, the
# killed task is a/mem's; systemd records the OOM kill), nothing else is
# killed (B, the router and A's other apps keep their PIDs), B answers
# every request meanwhile (one every 0.2 s from before the allocation until
# 3 s after the kill), and a/mem serves again. The kill is seen on the
# slice's memory.events (oom_kill), polled every 0.2 s.
. "$VMTEST_LIB"
tmp=$(mktemp -d)
a=$(slice_cg a)
OOM_TIMEOUT=${OOM_TIMEOUT:-180}

others() { local u; for u in "$(svc b web)" "$(svc a steady)" "$(svc a bomb)" "$(svc a burn)" ehecoatl-router.service; do printf ' %s' "$(prop "$u" MainPID)"; done; }
pids_before=$(others)
mem_pid=$(prop "$(svc a mem)" MainPID)
kills0=$(cgkey "$a/memory.events" oom_kill)
high0=$(cgkey "$a/memory.events" high)
since=$(date +%s)
$CLIENT loop web.b.test 0.2 "$tmp/stop" "$tmp/b.log" >"$tmp/b.sum" &
loop=$!
sleep 2
t0=$(now)
http mem.a.test '/alloc?mb=200&populate=1' 300 >"$tmp/alloc.code" &
alloc=$!
tk=""
while [ "$(elapsed "$t0" | cut -d. -f1)" -lt "$OOM_TIMEOUT" ]; do
	[ "$(cgkey "$a/memory.events" oom_kill)" != "$kills0" ] && { tk=$(now); break; }
	sleep 0.2
done
sleep 3
touch "$tmp/stop"; wait "$loop"
wait "$alloc"
b=$(cat "$tmp/b.sum")
b_during=$(awk -v a="$t0" -v b="${tk:-$(now)}" '$1 >= a && $1 <= b' "$tmp/b.log" | wc -l)
kern=$(journalctl -k --since "@$since" --no-pager -o cat)
killed=$(echo "$kern" | grep 'Memory cgroup out of memory: Killed process')
constraint=$(echo "$kern" | grep -o 'oom-kill:constraint=[^ ]*')
sysd=$(journalctl -u "$(svc a mem)" --since "@$since" --no-pager -o cat)
pids_after=$(others)
again=$(wait_http mem.a.test "$APP_START_TIMEOUT") || again="none after ${again}"
kills=$(( $(cgkey "$a/memory.events" oom_kill) - kills0 ))
high=$(( $(cgkey "$a/memory.events" high) - high0 ))

why=""
[ -n "$tk" ] || why="$why; no OOM kill in A's slice within $OOM_TIMEOUT s"
[ "$kills" = 1 ] || why="$why; $kills OOM kills in A's slice"
[ "$(echo "$killed" | grep -c .)" = 1 ] || why="$why; kernel: $(echo "$killed" | grep -c .) OOM kills: $(echo "$killed" | tr '\n' '|')"
echo "$killed" | grep -q "Killed process $mem_pid " || why="$why; the killed process is not a/mem's ($mem_pid): $killed"
echo "$constraint" | grep -q 'constraint=CONSTRAINT_MEMCG,' || why="$why; constraint: $constraint"
echo "$constraint" | grep -q ',oom_memcg=/ehecoatl.slice/ehecoatl-a.slice,' || why="$why; OOM not constrained to A's slice: $constraint"
echo "$constraint" | grep -q ",task_memcg=/ehecoatl.slice/ehecoatl-a.slice/$(svc a mem)," || why="$why; killed task not in a/mem: $constraint"
echo "$sysd" | grep -qE "killed by the OOM killer|oom-kill" || why="$why; systemd did not record the OOM kill of a/mem"
[ "$pids_before" = "$pids_after" ] || why="$why; other units' PIDs changed:$pids_before ->$pids_after"
n=$(echo "$b" | sed -n 's/^n=\([0-9]*\) ok=\([0-9]*\).*/\1/p'); okn=$(echo "$b" | sed -n 's/^n=\([0-9]*\) ok=\([0-9]*\).*/\2/p')
[ -n "$n" ] && [ "$n" = "$okn" ] && [ "$n" -ge 10 ] || why="$why; B answered ${okn:-?} of ${n:-?} ($b)"
[ "$b_during" -ge 1 ] || why="$why; no B request between the allocation and the kill"
case $again in none*) why="$why; a/mem did not answer again: $again" ;; esac
[ "$(prop "$(svc a mem)" MainPID)" != "$mem_pid" ] || why="$why; a/mem has the same PID after the kill"
ms=$(awk -v a="$t0" -v k="${tk:-$t0}" 'BEGIN { printf "%d", (k - a) * 1000 }')
figs="alloc->kill ${ms} ms (memory.events high +$high; the request got $(cat "$tmp/alloc.code")), B $okn/$n answered 200, $b_during of them during the allocation (${b#n=* ok=* }), a/mem serves again after ${again} s, ${constraint#oom-kill:}"
if [ -z "$why" ]; then ok "memory only a/mem OOM-killed, in A's slice: $figs"
else fail "memory ${why#; }; $figs"; fi
rm -rf "$tmp"
done_case
