# metrics: the router's /metrics (docs/METRICS.md) on its default address,
# 127.0.0.1:9808, with the figures systemd accounts under cgroup v2 (the
# nspawn guests of tests/metrics_test.go, on a host with cgroup v1, have
# none): CPU seconds, memory and tasks above zero for running apps of both
# tenants, tenant A's limits as its slice has them, and restarts as systemd
# counts them (a/mem was OOM-killed and restarted by 30-memory).
. "$VMTEST_LIB"
tmp=$(mktemp -d)
s="$tmp/scrape"
code=$(curl -s -o "$s" -w '%{http_code}' --max-time 30 http://127.0.0.1:9808/metrics)
if [ "$code" != 200 ]; then
	fail "metrics GET 127.0.0.1:9808/metrics answered $code"
	done_case
fi
info "$(grep -c '^ehecoatl_' "$s") ehecoatl_ samples, $(grep -c '^# TYPE' "$s") families"

# mval NAME LABEL=VALUE...: the value of the first sample of NAME whose
# labels include every LABEL="VALUE" given; empty when none.
mval() {
	local name=$1 l; shift
	l=$(grep "^$name{" "$s")
	for m; do l=$(printf '%s\n' "$l" | grep -F "${m%%=*}=\"${m#*=}\""); done
	printf '%s\n' "$l" | awk 'NF { print $NF; exit }'
}
# positive NAME LABEL=VALUE...: ok when the sample is there and above zero.
positive() {
	local v; v=$(mval "$@")
	if [ -n "$v" ] && awk -v v="$v" 'BEGIN { exit !(v > 0) }'; then
		ok "metrics $1 $2 $3 $4 = $v"
	else
		fail "metrics $1 $2 $3 $4 = '${v}', want > 0"
	fi
}
# equal WANT NAME LABEL=VALUE...
equal() {
	local want=$1 v; shift; v=$(mval "$@")
	if [ -n "$v" ] && awk -v v="$v" -v w="$want" 'BEGIN { exit !(v == w) }'; then
		ok "metrics $1 $2 $3 $4 = $v"
	else
		fail "metrics $1 $2 $3 $4 = '${v}', want $want"
	fi
}

for ta in b/web a/steady; do
	t=${ta%/*} a=${ta#*/} u=$(svc "${ta%/*}" "${ta#*/}")
	for m in ehecoatl_unit_cpu_seconds_total ehecoatl_unit_memory_bytes ehecoatl_unit_tasks_current; do
		positive "$m" tenant="$t" app="$a" name="$u"
	done
	equal 1 ehecoatl_unit_state tenant="$t" app="$a" name="$u" state=active
done
positive ehecoatl_unit_memory_bytes tenant=a app= name=ehecoatl-a.slice
equal $((64 << 20)) ehecoatl_unit_memory_max_bytes tenant=a app= name=ehecoatl-a.slice
equal 32 ehecoatl_unit_tasks_max tenant=a app= name=ehecoatl-a.slice
equal 0.2 ehecoatl_unit_cpu_quota_ratio tenant=a app= name=ehecoatl-a.slice
equal "$(prop "$(svc a mem)" NRestarts)" ehecoatl_service_restart_total tenant=a app=mem name="$(svc a mem)"
# The cgroup's own figure, read a moment later, is of the same order.
v=$(mval ehecoatl_unit_memory_bytes tenant=b app=web name="$(svc b web)")
cur=$(cat "$(unit_cg "$(svc b web)")/memory.current")
if awk -v v="$v" -v c="$cur" 'BEGIN { exit !(v > c / 4 && v < c * 4) }'; then
	ok "metrics b/web memory $v bytes, memory.current $cur"
else
	fail "metrics b/web memory '$v' bytes, memory.current $cur: not within 4x"
fi
rm -rf "$tmp"
done_case
