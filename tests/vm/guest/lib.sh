# Shared helpers of the VM cases (bash). Sourced by runner.sh and by every
# case; extra scripts (VM_EXTRA) may source it too: . "$VMTEST_LIB".
#
# Result lines: a case prints "ok NAME figures..." or "FAIL NAME why..." on
# stdout, one per check it reports; other lines should start with "# ".
# Use ok/fail below: fail also makes the case exit non-zero at its end.

VMTEST=${VMTEST:-/vmtest}
VMTEST_APPS=/usr/local/lib/ehecoatl-vmtest
CLIENT="python3 $VMTEST/client.py"
CG=/sys/fs/cgroup
# Timeouts from the host (tests/vm/run.sh writes settings.sh).
[ -f "$VMTEST/settings.sh" ] && . "$VMTEST/settings.sh"
CASE_TIMEOUT=${CASE_TIMEOUT:-600}
APP_START_TIMEOUT=${APP_START_TIMEOUT:-300}
_failed=0

ok() { echo "ok $*"; }
fail() { echo "FAIL $*"; _failed=1; }
info() { echo "# $*"; }
# End a case: exit 1 when any fail was printed.
done_case() { exit "$_failed"; }

# now: seconds since the epoch with milliseconds.
now() { date +%s.%3N; }
# elapsed T0 [T1]: seconds between two now values, 2 decimals.
elapsed() { awk -v a="$1" -v b="${2:-$(now)}" 'BEGIN { printf "%.2f", b - a }'; }

# http HOST [PATH] [MAX_S]: GET through the router; prints the status (000
# when there was no answer).
http() { curl -s -o /dev/null -w '%{http_code}' --max-time "${3:-30}" -H "Host: $1" "http://127.0.0.1${2:-/}"; }
# body HOST [PATH] [MAX_S]: prints the body.
body() { curl -s --max-time "${3:-30}" -H "Host: $1" "http://127.0.0.1${2:-/}"; }
# wait_http HOST TIMEOUT_S: until HOST answers 200; prints the seconds it
# took; returns 1 on timeout. Cold Python apps take 2-16 s under TCG.
wait_http() {
	local t0 code; t0=$(now)
	while :; do
		code=$(http "$1" / 30)
		[ "$code" = 200 ] && { elapsed "$t0"; return 0; }
		[ "$(elapsed "$t0" | cut -d. -f1)" -ge "$2" ] && { elapsed "$t0"; return 1; }
		sleep 0.5
	done
}

# Units and cgroups of the test tenants (generator naming).
svc() { echo "ehecoatl-$1-$2.service"; }           # svc TENANT APP
slice_cg() { echo "$CG/ehecoatl.slice/ehecoatl-$1.slice"; } # slice_cg TENANT
prop() { systemctl show -P "$2" "$1"; }             # prop UNIT PROPERTY
unit_cg() { echo "$CG$(prop "$1" ControlGroup)"; }  # unit_cg UNIT
# cgkey FILE KEY: the value of KEY in a flat-keyed cgroup file (cpu.stat...).
cgkey() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }
