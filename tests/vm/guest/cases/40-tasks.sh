# tasks: A's app a/bomb forks until fork() fails (tenant A has tasks: 32):
# forks are refused with EAGAIN once A's slice holds TasksMax tasks
# (pids.current = pids.max, pids.events "max" grows), and while the
# children hold the slice full for 20 s, B answers and so does A's running
# app a/steady (single-threaded: it needs no new task to answer). After the
# children exit, a/bomb answers again.
. "$VMTEST_LIB"
a=$(slice_cg a)
HOLD=20

max=$(cat "$a/pids.max")
ev0=$(cgkey "$a/pids.events" max)
cur0=$(cat "$a/pids.current")
t0=$(now)
r=$(body bomb.a.test "/bomb?hold=$HOLD" 60)
cur=$(cat "$a/pids.current")
ev1=$(cgkey "$a/pids.events" max)
# While the slice is full (well inside the hold time).
b_n=0 b_ok=0 s_n=0 s_ok=0
for _ in 1 2 3 4 5; do
	b_n=$((b_n + 1)); [ "$(http web.b.test / 10)" = 200 ] && b_ok=$((b_ok + 1))
	s_n=$((s_n + 1)); [ "$(http steady.a.test / 10)" = 200 ] && s_ok=$((s_ok + 1))
done
cur_during=$(cat "$a/pids.current")
held=$(elapsed "$t0")
# After: the children exit at t0+HOLD; a/bomb answers again.
sleep "$(awk -v h="$HOLD" -v e="$held" 'BEGIN { s = h - e + 2; print (s > 0 ? s : 0) }')"
after=$(wait_http bomb.a.test "$APP_START_TIMEOUT") || after="none after $after"
cur_after=$(cat "$a/pids.current")

forked=$(echo "$r" | python3 -c 'import json,sys; print(json.load(sys.stdin)["forked"])' 2>/dev/null)
refused=$(echo "$r" | python3 -c 'import json,sys; print(json.load(sys.stdin)["refused"])' 2>/dev/null)
err=$(echo "$r" | python3 -c 'import json,sys; print(json.load(sys.stdin)["errno"])' 2>/dev/null)
why=""
[ "$max" = 32 ] || why="$why; pids.max of A's slice is $max, want 32"
[ "$err" = EAGAIN ] || why="$why; fork errno '$err' (answer: $r)"
[ "${refused:-0}" -gt 0 ] || why="$why; no fork refused"
[ "${forked:-0}" -ge $((max - cur0 - 2)) ] || why="$why; only ${forked:-0} forks before the limit (slice had $cur0 tasks)"
[ "$cur" = "$max" ] || why="$why; pids.current $cur after the bomb, want $max"
[ $((ev1 - ev0)) -gt 0 ] || why="$why; pids.events max did not grow ($ev0 -> $ev1)"
[ "$b_ok" = "$b_n" ] || why="$why; B answered $b_ok/$b_n while A was full"
[ "$s_ok" = "$s_n" ] || why="$why; a/steady answered $s_ok/$s_n while A was full"
awk -v h="$held" -v H="$HOLD" 'BEGIN { exit !(h < H) }' || why="$why; the checks took ${held}s, longer than the hold"
case $after in none*) why="$why; a/bomb did not answer after: $after" ;; esac
figs="A had $cur0 tasks, $forked forks then $refused refused ($err), pids.current $cur/$max (during: $cur_during, after: $cur_after), pids.events max +$((ev1 - ev0)), B $b_ok/$b_n and a/steady $s_ok/$s_n answered while full, a/bomb answered again after ${after}s"
if [ -z "$why" ]; then ok "tasks forks refused at TasksMax: $figs"
else fail "tasks ${why#; }; $figs"; fi
done_case
