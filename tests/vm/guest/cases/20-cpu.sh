# cpu: tenant A (cpu: 20%) burns CPU with two spinning processes (they
# would take 200% unthrottled): A's slice may use at most 25% of one CPU
# over a window of at least 10 s (cpu.stat usage_usec), and B's p99 latency
# through the router under A's load stays within max(1.5x its unloaded p99,
# 5 ms). B is compared with itself in the same run (TCG is slow, absolute
# latencies mean nothing). The load must be real: A at least 10%.
. "$VMTEST_LIB"
N=${CPU_SAMPLES:-400}

$CLIENT lat web.b.test 50 >/dev/null # warm
base=$($CLIENT lat web.b.test "$N")
info "cpu: B unloaded: $base"
[ "$(body burn.a.test '/burn?procs=2')" ] || { fail "cpu: /burn of a/burn did not answer"; done_case; }
sleep 2 # the burners are running and throttled
a=$(slice_cg a)
u0=$(cgkey "$a/cpu.stat" usage_usec); thr0=$(cgkey "$a/cpu.stat" nr_throttled); t0=$(now)
loaded=$($CLIENT lat web.b.test "$N")
w=$(elapsed "$t0")
if awk -v w="$w" 'BEGIN { exit !(w < 10) }'; then sleep "$(awk -v w="$w" 'BEGIN { print 10 - w }')"; fi
u1=$(cgkey "$a/cpu.stat" usage_usec); thr1=$(cgkey "$a/cpu.stat" nr_throttled); t1=$(now)
body burn.a.test /unburn >/dev/null
info "cpu: B under A's load: $loaded"

res=$(awk -v u0="$u0" -v u1="$u1" -v t0="$t0" -v t1="$t1" -v base="$base" -v loaded="$loaded" '
function field(s, k,   n, i, f) { n = split(s, f, " "); for (i = 1; i <= n; i++) if (index(f[i], k "=") == 1) return substr(f[i], length(k) + 2) + 0 }
BEGIN {
	share = (u1 - u0) / 1e6 / (t1 - t0) * 100
	bp = field(base, "p99_ms"); lp = field(loaded, "p99_ms")
	bound = 1.5 * bp; if (bound < 5) bound = 5
	okn = field(loaded, "ok") == field(loaded, "n") && field(base, "ok") == field(base, "n")
	printf "%s share=%.1f%% window=%.1fs p99_unloaded=%.2fms p99_loaded=%.2fms ratio=%.2f bound=%.2fms\n", \
		(share <= 25 && share >= 10 && lp <= bound && okn) ? "PASS" : "BAD", share, t1 - t0, bp, lp, lp / bp, bound
}')
figs="${res#* } throttled=$((thr1 - thr0)) periods"
case $res in
PASS*) ok "cpu A's CPU and B's latency: $figs" ;;
*) fail "cpu want A's share in 10..25%, B's loaded p99 <= bound, every request 200: $figs; B unloaded: $base; loaded: $loaded" ;;
esac
done_case
