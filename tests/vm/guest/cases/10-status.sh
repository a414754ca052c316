# status: `ehecoatl status` and `--json` show real memory, CPU and tasks of
# running apps. Every app of the test tenants is running (setup reached each
# through the router); each --json row must agree with its service's cgroup
# (memory within 2x of memory.current, tasks = pids.current, CPU > 0), and
# the table must show a value, not "-", in MEMORY, CPU and TASKS.
. "$VMTEST_LIB"

# Exit 1 means an app failed or the router is down: the rows still come.
json=$(ehecoatl status --json) || [ $? -eq 1 ] || { fail "status: ehecoatl status --json failed"; done_case; }
table=$(ehecoatl status) || [ $? -eq 1 ] || { fail "status: ehecoatl status failed"; done_case; }
echo "$table" >"$VMTEST/out/10-status.table"
res=$(STATUS_JSON="$json" STATUS_TABLE="$table" python3 - <<'PY'
import json, os
rows = {(r["tenant"], r["app"]): r for r in json.loads(os.environ["STATUS_JSON"])["apps"]}
bad, figs = [], []
for t, a in [("a", "steady"), ("a", "mem"), ("a", "bomb"), ("a", "burn"), ("b", "web")]:
    r = rows.get((t, a))
    if r is None or r["state"] != "running":
        bad.append("%s/%s %s" % (t, a, r and r["state"] or "missing")); continue
    cg = "/sys/fs/cgroup/ehecoatl.slice/ehecoatl-%s.slice/ehecoatl-%s-%s.service/" % (t, t, a)
    mem, cpu, tasks = r.get("memory_bytes"), r.get("cpu_nsec"), r.get("tasks")
    cg_mem = int(open(cg + "memory.current").read())
    cg_tasks = int(open(cg + "pids.current").read())
    if not mem or not (cg_mem / 2 <= mem <= cg_mem * 2):
        bad.append("%s/%s json memory %s vs cgroup %d" % (t, a, mem, cg_mem))
    if not cpu or cpu <= 0:
        bad.append("%s/%s json cpu %s" % (t, a, cpu))
    if not tasks or tasks != cg_tasks:
        bad.append("%s/%s json tasks %s vs cgroup %d" % (t, a, tasks, cg_tasks))
    figs.append("%s/%s=%.1fMiB,%.0fms,%s" % (t, a, (mem or 0) / 2**20, (cpu or 0) / 1e6, tasks))
# The table, cut at the header's column offsets (SINCE holds spaces).
lines = os.environ["STATUS_TABLE"].splitlines()
h = lines[0]
cols = [h.index(c) for c in ("STATE", "HEALTH", "SINCE", "MEMORY", "CPU", "TASKS", "RESTARTS")]
shown = 0
for l in lines[1:]:
    if not l.strip() or not l.startswith(("a ", "b ")):
        continue
    state = l[cols[0]:cols[1]].strip()
    vals = [l[cols[i]:cols[i + 1]].strip() for i in (3, 4, 5)]
    if state == "running":
        shown += 1
        if "-" in vals or "" in vals:
            bad.append("table %s: %s" % (l.split()[1], vals))
if shown < 5:
    bad.append("table has %d running rows of a and b, want 5" % shown)
print(("BAD " + "; ".join(bad)) if bad else " ".join(figs))
PY
)
case $res in
BAD*) fail "status ${res#BAD }" ;;
*) ok "status --json and table show real memory/cpu/tasks, equal to the cgroups: $res" ;;
esac
done_case
