#!/bin/bash
# Compare ehecoatl-router with nginx, both reverse-proxying to the same
# app on a unix socket, with wrk on 127.0.0.1. Rounds alternate between
# the two so that load from other processes hits both alike; the script
# prints every round and the medians (requests/s, p99, CPU µs per request
# of the proxy process(es)).
#
#   router/testdata/bench/wrk-vs-nginx.sh [ROUNDS=5] [SECONDS=4] [CONNS=64] [BODY=13] [NGINX_WORKERS=1]
#
# LOG=1 makes both write an access log to a file (nginx with a 64 KiB
# buffer, as the router's); the default compares both without one.
#
# Needs wrk and nginx (apt-get install -y wrk nginx-light). nginx runs by
# hand with a temporary config on 127.0.0.1 and is stopped at the end.
set -euo pipefail
[ -n "${DEBUG:-}" ] && set -x
ROUNDS=${1:-5} SECS=${2:-4} CONNS=${3:-64} BODY=${4:-13} WORKERS=${5:-1}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
T=$(mktemp -d /tmp/ehbench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -f "$T/nginx.pid" ] && kill "$(cat "$T/nginx.pid")" 2>/dev/null || true
	sleep 0.3
	rm -rf "$T"
}
trap cleanup EXIT
RPORT=${RPORT:-18280} NPORT=${NPORT:-18281}

(cd "$ROOT" && go build -o "$T/backend" ./router/testdata/bench/backend && go build -o "$T/router" ./cmd/ehecoatl-router)
mkdir -p "$T/etc/tenants" "$T/run/acme"
cat > "$T/etc/tenants/acme.yaml" <<YAML
tenant: acme
apps:
  web:
    command: [/bin/true]
    listen: activation
    domains: [acme.test]
YAML
"$T/backend" "$T/run/acme/web.sock" "$BODY" & PIDS+=($!)
# nginx's workers run as www-data: let them reach the app socket.
for i in $(seq 50); do [ -S "$T/run/acme/web.sock" ] && break; sleep 0.1; done
chmod 755 "$T" "$T/run" "$T/run/acme"; chmod 666 "$T/run/acme/web.sock"
if [ "${LOG:-0}" = 1 ]; then RLOG=stderr; NLOG="access_log $T/access.log combined buffer=64k;"; else RLOG=off; NLOG="access_log off;"; fi
"$T/router" --listen "127.0.0.1:$RPORT" --manifests "$T/etc" --run-dir "$T/run" --tenant-max-inflight -1 --access-log $RLOG 2> "$T/router.log" & PIDS+=($!)
RPID=$!
cat > "$T/nginx.conf" <<NGX
worker_processes $WORKERS;
pid $T/nginx.pid;
error_log $T/nginx-error.log warn;
events { worker_connections 4096; }
http {
  $NLOG
  client_body_temp_path $T/ngx-body;
  proxy_temp_path $T/ngx-proxy;
  upstream app { server unix:$T/run/acme/web.sock; keepalive 128; }
  server {
    listen 127.0.0.1:$NPORT;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Host \$host;
    }
  }
}
NGX
nginx -c "$T/nginx.conf"
sleep 0.5
for p in $RPORT $NPORT; do
	curl -sf -o /dev/null -H 'Host: acme.test' "http://127.0.0.1:$p/" || { echo "port $p does not answer"; cat "$T/router.log" "$T/nginx-error.log" 2>/dev/null; exit 1; }
done
# The access log goes to stderr without a journal; keep it out of the way.
tick=$(getconf CLK_TCK)
cpu() { local s=0; for p in "$@"; do read -r -a f < "/proc/$p/stat"; s=$((s + f[13] + f[14])); done; echo $s; }
NGPIDS=$(pgrep -P "$(cat "$T/nginx.pid")" || true)
echo "body ${BODY} B, ${CONNS} connections, ${SECS}s x ${ROUNDS} rounds, nginx workers: ${WORKERS}, router GOMAXPROCS: ${GOMAXPROCS:-default}, access logs: ${LOG:-0}"
for i in $(seq "$ROUNDS"); do
	for who in nginx router; do
		if [ $who = nginx ]; then port=$NPORT; pids=$NGPIDS; else port=$RPORT; pids=$RPID; fi
		b=$(cpu $pids)
		out=$(wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -H 'Host: acme.test' "http://127.0.0.1:$port/")
		a=$(cpu $pids)
		n=$(echo "$out" | awk '/requests in/{print $1}')
		rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
		p99=$(echo "$out" | awk '$1=="99%"{print $2}')
		echo "$who rps=$rps p99=$p99 cpu_us_per_req=$(( (a-b)*1000000/tick/n ))"
	done
done | tee "$T/results"
python3 - "$T/results" <<'PY'
import statistics, sys
rows = [dict(kv.split('=') for kv in l.split()[1:]) | {'who': l.split()[0]} for l in open(sys.argv[1])]
def ms(s):
    return float(s[:-2]) if s.endswith('ms') else float(s[:-2]) / 1000 if s.endswith('us') else float(s[:-1]) * 1000
med = {}
for who in ('nginx', 'router'):
    r = [x for x in rows if x['who'] == who]
    med[who] = (statistics.median(float(x['rps']) for x in r), statistics.median(ms(x['p99']) for x in r),
                statistics.median(int(x['cpu_us_per_req']) for x in r))
    print(f"{who:6s} median {med[who][0]:8.0f} req/s  p99 {med[who][1]:6.2f} ms  {med[who][2]} µs CPU/req")
print(f"router/nginx: throughput {med['router'][0]/med['nginx'][0]:.2f}x, p99 {med['router'][1]/med['nginx'][1]:.2f}x, CPU/req {med['router'][2]/med['nginx'][2]:.2f}x")
PY
