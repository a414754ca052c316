#!/bin/bash
# The VM tier inside the guest (started by vmtest.service of the image, with
# the payload disk mounted on /vmtest): installs the .deb, applies the test
# manifests (setup.sh), then runs cases/*.sh and extra/*.sh (VM_EXTRA) in
# name order.
# Every line for the host starts with "@@ " on the serial console; the host
# (tests/vm/run.sh) counts the "ok"/"FAIL" lines.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
export VMTEST=/vmtest VMTEST_LIB=/vmtest/lib.sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
cd "$VMTEST"
. ./lib.sh

out=$VMTEST/out
mkdir -p "$out/extra"
say() { echo "@@ $*"; }

# run_case NAME CMD...: runs under CASE_TIMEOUT, relays its lines, and
# turns a non-zero exit (or no result line at all) into a FAIL line.
run_case() {
	local name=$1 t0 rc; shift
	t0=$(now)
	timeout -k 10 "$CASE_TIMEOUT" "$@" 2>"$out/$name.stderr" </dev/null | tee "$out/$name.out" | sed -u 's/^/@@ /'
	rc=${PIPESTATUS[0]}
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		say "FAIL $name timed out after ${CASE_TIMEOUT}s (stderr: $(tail -n 3 "$out/$name.stderr" | tr '\n' ' '))"
	elif [ "$rc" != 0 ] && ! grep -q '^FAIL ' "$out/$name.out"; then
		say "FAIL $name exit $rc (stderr: $(tail -n 3 "$out/$name.stderr" | tr '\n' ' '))"
	elif ! grep -qE '^(ok|FAIL) ' "$out/$name.out"; then
		say "FAIL $name printed no result line"
	fi
	say "# $name: $(elapsed "$t0") s"
}

say "# guest: $(systemd-detect-virt), $(uname -r), systemd $(systemctl --version | head -n1 | cut -d' ' -f2), cgroup $(stat -fc %T /sys/fs/cgroup), $(nproc) CPUs"
run_case setup bash "$VMTEST/setup.sh"
if grep -q "^ok apply" "$out/setup.out"; then
	for f in "$VMTEST"/cases/*.sh; do
		run_case "$(basename "$f" .sh)" bash "$f"
	done
	for f in "$VMTEST"/extra/*.sh; do
		[ -e "$f" ] || continue
		run_case "extra/$(basename "$f" .sh)" bash "$f"
	done
else
	for f in "$VMTEST"/cases/*.sh "$VMTEST"/extra/*.sh; do
		[ -e "$f" ] && say "FAIL $(basename "$f" .sh) not run: setup failed"
	done
fi
ehecoatl status >"$out/status.txt" 2>&1
journalctl -b --no-pager >"$out/journal.txt" 2>&1
say "done"
