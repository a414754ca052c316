# egress and bind: the network rules of docs/DESIGN.md "Network", which only
# a cgroup v2 kernel enforces (IPAddressAllow= and ehecoatl-firewall's
# nftables rules). An "outside" stand-in is a network namespace
# of the VM's own (veth 10.99.0.1 <-> 10.99.0.2, never a real address); the
# VM's "own address" is 10.99.0.1; host services listen on 127.0.0.1:8002
# and 0.0.0.0:8001; tenant c's port app binds 127.0.0.1:9090 in its own
# namespace. Tenant n's apps (tests/vm/guest/apps/netprobe.py) try each.
. "$VMTEST_LIB"

ip netns add outside
ip link add veth-host type veth peer name veth-out
ip link set veth-out netns outside
ip addr add 10.99.0.1/24 dev veth-host && ip link set veth-host up
ip -n outside addr add 10.99.0.2/24 dev veth-out && ip -n outside link set veth-out up && ip -n outside link set lo up
ip netns exec outside python3 -m http.server --bind 10.99.0.2 8000 >/dev/null 2>&1 &
python3 -m http.server --bind 127.0.0.1 8002 >/dev/null 2>&1 &
python3 -m http.server --bind 0.0.0.0 8001 >/dev/null 2>&1 &
trap 'kill $(jobs -p) 2>/dev/null; ip netns del outside 2>/dev/null' EXIT

m=/tmp/egress-m
rm -rf "$m" && cp -r "$VMTEST/manifests" "$m"
app() { # app NAME EGRESS
	printf '  %s:\n    command: [/usr/bin/python3, %s/netprobe.py]\n    listen: activation\n    domains: [%s.n.test]\n    egress: %s\n    idle_timeout: 0\n' "$1" "$VMTEST_APPS" "$1" "$2"
}
{ echo "tenant: n"; echo "apps:"; app none none; app ten '[10.0.0.0/8]'; app world '[0.0.0.0/0]'; } > "$m/tenants/n.yaml"
printf 'tenant: c\napps:\n  web:\n    command: [%s/hello, --port, "9090"]\n    port: 9090\n    domains: [web.c.test]\n    idle_timeout: 2s\n' "$VMTEST_APPS" > "$m/tenants/c.yaml"
if ! ehecoatl apply "$m" > "$VMTEST/out/apply-egress.log" 2>&1; then
	fail "egress apply: $(tail -n 5 "$VMTEST/out/apply-egress.log" | tr '\n' ' ')"
	done_case
fi
for h in none.n.test ten.n.test world.n.test web.c.test; do
	wait_http "$h" "$APP_START_TIMEOUT" >/dev/null || fail "egress $h did not answer within $APP_START_TIMEOUT s"
done
sleep 1
[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://10.99.0.2:8000/)" = 200 ] ||
	fail "egress the outside stand-in does not answer from the VM itself"

# try APP PROBE WANT(ok|refused) LABEL
try() {
	local got; got=$(body "$1.n.test" "/$2" 20)
	case "$3:$got" in
	ok:ok | refused:[A-Za-z]*Error*) ok "$4 ($1 $2: ${got:-no answer})" ;;
	*) fail "$4 ($1 $2: got '${got:-no answer}', want $3)" ;;
	esac
}
try none connect/127.0.0.1/8002 refused "egress none cannot reach 127.0.0.1"
try ten connect/10.99.0.2/8000 ok "egress [10.0.0.0/8] reaches a listed address"
try ten connect/127.0.0.1/8002 refused "egress [10.0.0.0/8] cannot reach 127.0.0.1"
try world connect/10.99.0.2/8000 ok "egress [0.0.0.0/0] reaches the outside stand-in"
try world connect/127.0.0.1/8002 refused "egress [0.0.0.0/0] cannot reach 127.0.0.1"
try world connect/10.99.0.1/8001 refused "egress [0.0.0.0/0] cannot reach a host service on the VM's own address"
try ten connect/10.99.0.1/8001 refused "egress [10.0.0.0/8] cannot reach a host service on the VM's own address, though the list covers it"
try world connect/127.0.0.1/9090 refused "egress [0.0.0.0/0] cannot reach another tenant's port app"
try world unix refused "egress [0.0.0.0/0] has no unix sockets (abstract sockets)"

# bind: c's app is idle-stopped after 2 s. Apps with an egress list share
# the host's network namespace: one opens listeners host-wide, on c's port
# and on the VM's address. Nothing reaches them (ehecoatl-firewall rejects
# new connections to any socket under ehecoatl.slice), and c's users still
# reach c, whose port is in c's own namespace.
sleep 4
[ "$(prop "$(svc c web)" ActiveState)" = active ] && info "c/web still active"
for l in world:0.0.0.0/8088 world:127.0.0.1/9090 ten:10.99.0.1/8089; do
	got=$(body "${l%%:*}.n.test" "/listen/${l#*:}/40" 20)
	info "bind ${l%%:*} listens on ${l#*:}: ${got:-no answer}"
done
sleep 1
# reach LABEL URL [NETNS]: the app's listener must not answer.
reach() {
	local got
	if [ -n "$3" ]; then got=$(ip netns exec "$3" curl -s --max-time 5 "$2" 2>&1); else got=$(curl -s --max-time 5 "$2" 2>&1); fi
	case "$got" in
	*app-listener*) fail "$1 (answered: $got)" ;;
	*) ok "$1 (curl $2${3:+ from $3}: no answer)" ;;
	esac
}
reach "bind: no host-wide listener of an app answers on loopback" http://127.0.0.1:8088/
reach "bind: no host-wide listener of an app answers on the VM's address" http://10.99.0.1:8088/
reach "bind: no listener of an app answers from outside" http://10.99.0.1:8088/ outside
reach "bind: no listener of an app answers on another tenant's port" http://127.0.0.1:9090/
reach "bind: no app listens on the VM's address" http://10.99.0.1:8089/ outside
got=$(body web.c.test / 60)
case "$got" in
"hello from c/web"*) ok "bind: c's users reach c while another app holds c's port number on the host" ;;
*) fail "bind: c's domain answered '${got:-nothing}'" ;;
esac
done_case
