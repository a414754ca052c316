# memory: A's app a/mem allocates 200 MiB (its tenant has memory: 64M):
# the kernel OOM-kills it inside A's slice (journal: oom_memcg is A's
# slice, the killed task is in a/mem's service, systemd records oom-kill),
# nothing else is killed (B, the router and A's other apps keep their
# PIDs), B answers every request meanwhile (a request every 0.2 s from
# before the allocation until 3 s after the kill), and a/mem serves again.
. "$VMTEST_LIB"
tmp=$(mktemp -d)

pids_before=""
for u in "$(svc b web)" "$(svc a steady)" ehecoatl-router.service; do pids_before="$pids_before $(prop "$u" MainPID)"; done
mem_pid=$(prop "$(svc a mem)" MainPID)
since=$(date +%s)
$CLIENT loop web.b.test 0.2 "$tmp/stop" "$tmp/b.log" >"$tmp/b.sum" &
loop=$!
sleep 2
t0=$(now)
code=$(http mem.a.test '/alloc?mb=200' 120)
t1=$(now)
# The kernel's report (journald reads /dev/kmsg; allow it 30 s).
for _ in $(seq 1 60); do
	journalctl -k --since "@$since" -o short-unix --no-pager | grep -q 'Memory cgroup out of memory: Killed process' && break
	sleep 0.5
done
sleep 3
touch "$tmp/stop"; wait "$loop"
b=$(cat "$tmp/b.sum")
kern=$(journalctl -k --since "@$since" -o short-unix --no-pager)
killed=$(echo "$kern" | grep 'Memory cgroup out of memory: Killed process')
constraint=$(echo "$kern" | grep -o 'oom-kill:constraint=[^ ]*')
kill_t=$(echo "$killed" | head -n1 | awk '{ print $1 }')
sysd=$(journalctl -u "$(svc a mem)" --since "@$since" --no-pager -o cat)
b_during=$(awk -v a="$t0" -v b="${kill_t:-$t1}" '$1 >= a && $1 <= b + 0.5' "$tmp/b.log" | wc -l)
pids_after=""
for u in "$(svc b web)" "$(svc a steady)" ehecoatl-router.service; do pids_after="$pids_after $(prop "$u" MainPID)"; done
again=$(wait_http mem.a.test "$APP_START_TIMEOUT") || again="none after ${again}"
new_pid=$(prop "$(svc a mem)" MainPID)
ms=$(awk -v a="$t0" -v k="${kill_t:-0}" 'BEGIN { printf "%d", (k - a) * 1000 }')

why=""
[ -n "$killed" ] || why="$why; no OOM kill in the kernel log"
[ "$(echo "$killed" | wc -l)" = 1 ] || why="$why; $(echo "$killed" | wc -l) OOM kills: $(echo "$killed" | tr '\n' '|')"
echo "$killed" | grep -q "Killed process $mem_pid " || why="$why; the killed process is not a/mem's ($mem_pid)"
echo "$constraint" | grep -q 'constraint=CONSTRAINT_MEMCG,' || why="$why; constraint: $constraint"
echo "$constraint" | grep -q ',oom_memcg=/ehecoatl.slice/ehecoatl-a.slice,' || why="$why; OOM not constrained to A's slice: $constraint"
echo "$constraint" | grep -q ",task_memcg=/ehecoatl.slice/ehecoatl-a.slice/$(svc a mem)," || why="$why; killed task not in a/mem: $constraint"
echo "$sysd" | grep -qE "killed by the OOM killer|oom-kill" || why="$why; systemd did not record the OOM kill of a/mem"
[ "$pids_before" = "$pids_after" ] || why="$why; other units' PIDs changed:$pids_before ->$pids_after"
case $b in "n="*) ;; *) why="$why; B loop: $b" ;; esac
n=$(echo "$b" | sed 's/.*n=\([0-9]*\).*/\1/'); okn=$(echo "$b" | sed 's/.*ok=\([0-9]*\).*/\1/')
[ "$n" = "$okn" ] && [ "$n" -ge 10 ] || why="$why; B answered $okn of $n"
[ "$b_during" -ge 1 ] || why="$why; no B request between the allocation and the kill"
case $again in none*) why="$why; a/mem did not answer again: $again" ;; esac
[ "$new_pid" != "$mem_pid" ] || why="$why; a/mem has the same PID after the kill"
figs="alloc->kill ${ms} ms (request answered $code after $(elapsed "$t0" "$t1") s), B $okn/$n 200 ($b_during during the allocation; ${b#* ok=* }), a/mem serves again after ${again} s, ${constraint#oom-kill:}"
if [ -z "$why" ]; then ok "memory only a/mem OOM-killed, in A's slice: $figs"
else fail "memory ${why#; }; $figs"; fi
rm -rf "$tmp"
done_case
