# Setup of the VM tier, the first "case": install the .deb, install the test
# apps, apply the test tenants, wait for every app's first answer.
. "$VMTEST_LIB"

rm -f /usr/sbin/policy-rc.d # a real host has none: postinst must start the router
install -d "$VMTEST_APPS"
install -m 0755 "$VMTEST/hello" "$VMTEST_APPS/hello"
install -m 0644 "$VMTEST/apps/"* "$VMTEST_APPS/"
t0=$(now)
if ! DEBIAN_FRONTEND=noninteractive dpkg -i "$VMTEST/ehecoatl.deb" >"$VMTEST/out/dpkg.log" 2>&1; then
	fail "install dpkg -i: $(tail -n 3 "$VMTEST/out/dpkg.log" | tr '\n' ' ')"
	done_case
fi
[ "$(systemctl is-active ehecoatl-router.socket)" = active ] || { fail "install ehecoatl-router.socket is not active"; done_case; }
ok "install ehecoatl $(dpkg-query -W -f '${Version}' ehecoatl) ($(elapsed "$t0") s)"

t0=$(now)
if ! ehecoatl apply "$VMTEST/manifests" >"$VMTEST/out/apply.log" 2>&1; then
	fail "apply: $(tail -n 5 "$VMTEST/out/apply.log" | tr '\n' ' ')"
	done_case
fi
# First request of each app: cold starts (Python, A at 20% of a CPU).
first=""
for host in web.b.test steady.a.test mem.a.test bomb.a.test burn.a.test; do
	if ! s=$(wait_http "$host" "$APP_START_TIMEOUT"); then
		fail "apply $host did not answer 200 within $APP_START_TIMEOUT s"
		done_case
	fi
	first="$first $host=${s}s"
done
ok "apply 2 tenants, 5 apps answer ($(elapsed "$t0") s; first answers:$first)"
done_case
