# tasks: A's app a/bomb forks until fork() fails (tenant A has tasks: 32):
# forks are refused with EAGAIN once A's slice holds TasksMax tasks
# (pids.current = pids.max = 32 on the slice; "max" in pids.events grows:
# the kernel counts it in the forking task's cgroup, a/bomb's service). While the
# children hold the slice full, B answers and so does A's running app
# a/steady (single-threaded: it needs no new task to answer). Then a/bomb
# releases its children and answers again.
. "$VMTEST_LIB"
a=$(slice_cg a)
bomb_cg=$(unit_cg "$(svc a bomb)")
json() { echo "$1" | python3 -c "import json,sys; print(json.load(sys.stdin).get('$2', ''))" 2>/dev/null; }

max=$(cat "$a/pids.max")
ev0=$(cgkey "$bomb_cg/pids.events" max)
cur0=$(cat "$a/pids.current")
# Under TCG at 20% of a CPU a fork of Python takes ~0.5 s: allow 120 s.
r=$(body bomb.a.test /bomb 180)
cur=$(cat "$a/pids.current")
ev1=$(cgkey "$bomb_cg/pids.events" max)
b_n=0 b_ok=0 s_n=0 s_ok=0
for _ in 1 2 3 4 5; do
	b_n=$((b_n + 1)); [ "$(http web.b.test / 10)" = 200 ] && b_ok=$((b_ok + 1))
	s_n=$((s_n + 1)); [ "$(http steady.a.test / 10)" = 200 ] && s_ok=$((s_ok + 1))
done
cur_during=$(cat "$a/pids.current")
rel=$(body bomb.a.test /release 30)
t0=$(now)
while [ "$(cat "$a/pids.current")" -gt "$cur0" ] && [ "$(elapsed "$t0" | cut -d. -f1)" -lt 60 ]; do sleep 0.5; done
cur_after=$(cat "$a/pids.current")
after=$(wait_http bomb.a.test "$APP_START_TIMEOUT") || after="none after $after"

forked=$(json "$r" forked) refused=$(json "$r" refused) err=$(json "$r" errno) secs=$(json "$r" s)
why=""
[ "$max" = 32 ] || why="$why; pids.max of A's slice is $max, want 32"
[ "$err" = EAGAIN ] || why="$why; fork errno '$err' (answer: $r)"
[ "${refused:-0}" -gt 0 ] || why="$why; no fork refused"
[ "${forked:-0}" -ge $((max - cur0 - 2)) ] || why="$why; only ${forked:-0} forks before the limit (slice had $cur0 tasks)"
[ "$cur" = "$max" ] || why="$why; pids.current $cur after the bomb, want $max"
[ $((ev1 - ev0)) -gt 0 ] || why="$why; pids.events max did not grow ($ev0 -> $ev1)"
[ "$b_ok" = "$b_n" ] || why="$why; B answered $b_ok/$b_n while A was full"
[ "$s_ok" = "$s_n" ] || why="$why; a/steady answered $s_ok/$s_n while A was full"
[ "$cur_during" = "$max" ] || why="$why; the slice was not full during the checks ($cur_during)"
[ "$cur_after" -le "$cur0" ] || why="$why; $cur_after tasks 60 s after the release (before: $cur0; $rel)"
case $after in none*) why="$why; a/bomb did not answer after: $after" ;; esac
figs="A had $cur0 tasks, $forked forks in ${secs}s then $refused refused ($err), pids.current $cur/$max, a/bomb pids.events max +$((ev1 - ev0)), B $b_ok/$b_n and a/steady $s_ok/$s_n answered while full, $cur_after tasks after release, a/bomb answers again (${after}s)"
if [ -z "$why" ]; then ok "tasks forks refused at TasksMax: $figs"
else fail "tasks ${why#; }; $figs"; fi
done_case
