# usage: `ehecoatl status --json` shows what the apps used since they
# started, from their cgroups (cgroup v2: memory, its peak, tasks, CPU)
# and systemd (restarts; IP bytes of IPAccounting=yes, which systemd's BPF
# counts here); tenant A's slice its totals and limits (64M, 32 tasks,
# 20% CPU); an app stopped to idle (its socket listens) no cgroup figure.
. "$VMTEST_LIB"
web=$(svc b web)
# Both apps run (a request starts one that an earlier case left stopped).
for h in steady.a.test web.b.test; do
	wait_http "$h" "$APP_START_TIMEOUT" >/dev/null || { fail "usage: $h does not answer"; done_case; }
done
json=$(ehecoatl status --json) || [ $? -eq 1 ] || { fail "usage: ehecoatl status --json failed"; done_case; }
# The cgroups as status read them, before b/web stops.
cgs=$(for u in a-steady b-web; do t=${u%%-*}; d=$CG/ehecoatl.slice/ehecoatl-$t.slice/ehecoatl-$u.service; echo "$u $(cat "$d/memory.current") $(cat "$d/pids.current")"; done)
systemctl stop "$web"
idle=$(ehecoatl status --json) || [ $? -eq 1 ] || { fail "usage: ehecoatl status --json (idle) failed"; done_case; }
res=$(STATUS_JSON="$json" IDLE_JSON="$idle" CGS="$cgs" CG="$CG" python3 - <<'PY'
import json, os
doc = json.loads(os.environ["STATUS_JSON"])
rows = {(r["tenant"], r["app"]): r for r in doc["apps"]}
bad, figs = [], []
cgs = {l.split()[0]: (int(l.split()[1]), int(l.split()[2])) for l in os.environ["CGS"].splitlines()}
for t, a in [("a", "steady"), ("b", "web")]:
    u = (rows.get((t, a)) or {}).get("usage") or {}
    cg = "%s/ehecoatl.slice/ehecoatl-%s.slice/ehecoatl-%s-%s.service/" % (os.environ["CG"], t, t, a)
    mem, peak, tasks, cpu = u.get("memory_bytes"), u.get("memory_peak_bytes"), u.get("tasks"), u.get("cpu_seconds")
    cg_mem, cg_tasks = cgs["%s-%s" % (t, a)]
    if not cpu or cpu <= 0: bad.append("%s/%s cpu %s" % (t, a, cpu))
    if not mem or not (cg_mem / 2 <= mem <= cg_mem * 2): bad.append("%s/%s memory %s vs cgroup %d" % (t, a, mem, cg_mem))
    if os.path.exists("%s/ehecoatl.slice/memory.peak" % os.environ["CG"]) and mem and (not peak or peak < mem / 2): bad.append("%s/%s peak %s, memory %s" % (t, a, peak, mem))
    if tasks != cg_tasks: bad.append("%s/%s tasks %s vs cgroup %d" % (t, a, tasks, cg_tasks))
    if "restarts" not in u: bad.append("%s/%s no restarts" % (t, a))
    if "ip_ingress_bytes" not in u or "ip_egress_bytes" not in u: bad.append("%s/%s no IP bytes: %s" % (t, a, u))
    figs.append("%s/%s=%.2fs,%.1fMiB,peak %.1fMiB,%s tasks,ip %s/%s" % (t, a, cpu or 0, (mem or 0) / 2**20, (peak or 0) / 2**20, tasks, u.get("ip_ingress_bytes"), u.get("ip_egress_bytes")))
ten = {x["tenant"]: x for x in doc["tenants"]}.get("a", {}).get("usage", {})
if ten.get("memory_max_bytes") != 64 << 20 or ten.get("tasks_max") != 32 or abs((ten.get("cpu_quota_ratio") or 0) - 0.2) > 1e-9 or not ten.get("memory_bytes"):
    bad.append("tenant a: %s" % ten)
idle = {(r["tenant"], r["app"]): r for r in json.loads(os.environ["IDLE_JSON"])["apps"]}.get(("b", "web"), {})
iu = idle.get("usage") or {}
if idle.get("state") != "idle" or any(k in iu for k in ("cpu_seconds", "memory_bytes", "tasks", "ip_ingress_bytes")) or "restarts" not in iu:
    bad.append("idle b/web: %s %s" % (idle.get("state"), iu))
print(("BAD " + "; ".join(bad)) if bad else "OK " + " ".join(figs) + "; tenant a %.1fMiB of %dMiB" % (ten["memory_bytes"] / 2**20, ten["memory_max_bytes"] >> 20))
PY
)
# Leave b/web running, as it was.
wait_http web.b.test "$APP_START_TIMEOUT" >/dev/null || fail "usage: b/web did not answer again"
case $res in
OK*) ok "usage: status --json shows the cgroups' and systemd's figures: ${res#OK }" ;;
*) fail "usage ${res#BAD } (see 70-usage.stderr)" ;;
esac
done_case
