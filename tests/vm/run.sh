#!/bin/bash
# The VM test tier (make test-vm): Ehecoatl's limits in a kernel that
# enforces them. Builds or reuses the Debian 12 image (tests/vm/image.sh),
# boots it under QEMU on a copy-on-write overlay with cgroup v2 and no
# network device, with a payload disk holding the .deb, the test apps, the
# manifests and the cases (tests/vm/guest); relays the cases' result lines
# from the serial console and prints "N passed, M failed".
#
# Exit status: 0 when every case passed; 1 on a failed case, a boot that
# does not come up, a timeout, or a VM that stops before the cases finish.
# QEMU is killed on exit, on Ctrl-C and on SIGTERM.
#
# Environment (defaults for TCG on 2 cores; see tests/vm/README.md):
#   VM_DEB           the .deb to install (default: the one in dist/)
#   VM_EXTRA         a directory whose *.sh run in the guest after the cases
#   VM_CACHE         image cache (default .cache/vm)
#   VM_ACCEL         auto (KVM when /dev/kvm is usable, else TCG), kvm, tcg
#   VM_BOOT_TIMEOUT  seconds from QEMU start to the test unit (default 300)
#   VM_CASE_TIMEOUT  seconds per case inside the guest (default 600)
#   VM_APP_START_TIMEOUT  seconds for an app's first answer (default 300)
#   VM_TIMEOUT       seconds for the whole VM run, boot included (default 1800)
#   VM_KEEP          1: keep the run directory (overlay, payload, logs)
set -euo pipefail
if [ -n "${VM_EXTRA:-}" ]; then VM_EXTRA=$(readlink -f "$VM_EXTRA"); fi
cd "$(dirname "$0")/../.."
repo=$PWD
here=$repo/tests/vm
cache=${VM_CACHE:-$repo/.cache/vm}
boot_timeout=${VM_BOOT_TIMEOUT:-300}
case_timeout=${VM_CASE_TIMEOUT:-600}
app_timeout=${VM_APP_START_TIMEOUT:-300}
total_timeout=${VM_TIMEOUT:-1800}
passed=0 failed=0
qemu_pid="" run=""
T0=$SECONDS

result() { # a case line: count and print it
	case $1 in
	"ok "*) passed=$((passed + 1)) ;;
	"FAIL "*) failed=$((failed + 1)) ;;
	esac
	echo "$1"
}
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
}
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
		kill "$qemu_pid" 2>/dev/null || true
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.2; done
		kill -9 "$qemu_pid" 2>/dev/null || true
		wait "$qemu_pid" 2>/dev/null || true
	fi
	if [ -n "$run" ]; then
		# Keep the logs of the last run, drop the disks.
		rm -rf "$cache/last"
		mkdir -p "$cache/last"
		cp -r "$run/serial.log" "$run/out" "$cache/last/" 2>/dev/null || true
		[ "${VM_KEEP:-}" = 1 ] || rm -rf "$run"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'echo "vm: interrupted" >&2; exit 130' INT TERM

# The whole run is one function, read in full before it starts: editing
# this file (a checkout) during a run cannot change what the run does.
main() {
deb=${VM_DEB:-$(ls "$repo"/dist/ehecoatl_*_amd64.deb 2>/dev/null | head -n1)}
[ -f "$deb" ] || { echo "vm: no .deb (run make package, or set VM_DEB)" >&2; exit 1; }
if [ -n "${VM_EXTRA:-}" ] && [ ! -d "$VM_EXTRA" ]; then
	echo "vm: VM_EXTRA=$VM_EXTRA is not a directory" >&2; exit 1
fi

# 1. The image (cached).
t=$SECONDS
img=$("$here/image.sh" "$cache")
echo "# image: $((SECONDS - t)) s ($img)"

# 2. This run: overlay of the image, payload disk.
mkdir -p "$cache/runs"
run=$(mktemp -d "$cache/runs/run.XXXXXX")
qemu-img create -q -f qcow2 -b "$img/root.img" -F raw "$run/root.qcow2"
p=$run/payload
mkdir -p "$p/out" "$p/extra"
cp -r "$here/guest/." "$p/"
cp "$deb" "$p/ehecoatl.deb"
CGO_ENABLED=0 ${GO:-go} build -trimpath -o "$p/hello" ./tests/apps/hello
if [ -n "${VM_EXTRA:-}" ]; then cp -r "$VM_EXTRA/." "$p/extra/"; fi
cat >"$p/settings.sh" <<SET
CASE_TIMEOUT=$case_timeout
APP_START_TIMEOUT=$app_timeout
SET
mkfs.ext4 -q -F -L vmtest -d "$p" "$run/payload.img" 512M >/dev/null 2>&1

# 3. Boot.
# auto: KVM when /dev/kvm opens and the CPU shows vmx or svm, else TCG.
# (Some sandboxes offer a /dev/kvm whose VMs hang at the kernel's start:
# no vmx/svm flag there, so they get TCG.)
accel=${VM_ACCEL:-auto}
if [ "$accel" = auto ]; then
	accel=tcg
	if [ -c /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo && { exec 9<>/dev/kvm; } 2>/dev/null; then
		exec 9>&-
		accel=kvm
	fi
fi
case $accel in
kvm) accel_args=(-accel kvm -cpu host) ;;
tcg) accel_args=(-accel tcg,thread=multi -cpu max) ;;
*) echo "vm: VM_ACCEL=$accel: want auto, kvm or tcg" >&2; exit 1 ;;
esac
: >"$run/serial.log"
qemu-system-x86_64 "${accel_args[@]}" -smp 2 -m 2048 \
	-kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
	-append "root=/dev/vda rw console=ttyS0 systemd.unified_cgroup_hierarchy=1 quiet loglevel=1 panic=-1" \
	-drive file="$run/root.qcow2",format=qcow2,if=virtio \
	-drive file="$run/payload.img",format=raw,if=virtio \
	-nic none -nographic -no-reboot -serial file:"$run/serial.log" -monitor none -display none \
	</dev/null >"$run/qemu.log" 2>&1 &
qemu_pid=$!
boot0=$SECONDS
echo "# qemu: accel $accel, pid $qemu_pid, serial log $run/serial.log"

# 4. Relay the guest's "@@ " lines until "@@ done", QEMU's exit or a timeout.
booted="" done="" part=""
exec 8< <(tail -n +1 -F --pid="$qemu_pid" "$run/serial.log" 2>/dev/null)
while :; do
	if IFS= read -r -t 1 chunk <&8; then
		# A read that timed out in the middle of a line left its
		# beginning in part: without it the line, a FAIL too, was lost.
		line=$part$chunk part=""
		line=${line%$'\r'}
		# Whatever the console wrote before a guest line on the same line
		# (the terminal reset ESC c ESC[?7l ESC[2J, a kernel message
		# without its newline) is not part of it.
		case $line in
		?*"@@ "*) line="@@ ${line#*"@@ "}" ;;
		esac
		case $line in
		"@@ booted "*)
			booted=$SECONDS
			echo "# boot: $((booted - boot0)) s to the test unit (guest uptime ${line#@@ booted })"
			;;
		"@@ done")
			done=$SECONDS
			echo "# cases: $((done - booted)) s"
			;;
		"@@ poweroff") ;;
		"@@ "*) result "${line#@@ }" ;;
		esac
	elif [ $? -le 128 ]; then
		break # end of the log: QEMU exited
	else
		part+=$chunk # the timeout struck within a line
	fi
	if [ -z "$booted" ] && [ $((SECONDS - boot0)) -ge "$boot_timeout" ]; then
		result "FAIL boot: the test unit did not start within $boot_timeout s (VM_BOOT_TIMEOUT); serial log tail: $(tail -c 400 "$run/serial.log" | tr -s '\r\n' '  ')"
		break
	fi
	if [ $((SECONDS - boot0)) -ge "$total_timeout" ]; then
		result "FAIL timeout: the VM run took more than $total_timeout s (VM_TIMEOUT)"
		break
	fi
	if [ -n "$done" ] && ! kill -0 "$qemu_pid" 2>/dev/null; then break; fi
done
exec 8<&-
if [ -n "$booted" ] && [ -z "$done" ] && ! kill -0 "$qemu_pid" 2>/dev/null; then
	result "FAIL vm: QEMU exited before the cases finished ($(tail -c 300 "$run/qemu.log" | tr '\n' ' '))"
elif [ -z "$booted" ] && ! kill -0 "$qemu_pid" 2>/dev/null && [ $((SECONDS - boot0)) -lt "$boot_timeout" ]; then
	result "FAIL boot: QEMU exited before the test unit started ($(tail -c 300 "$run/qemu.log" | tr '\n' ' ')); serial log tail: $(tail -c 400 "$run/serial.log" | tr -s '\r\n' '  ')"
fi
# Give the guest a few seconds to power off by itself (it syncs first).
for _ in $(seq 1 50); do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.2; done
if [ -f "$run/payload.img" ] && ! kill -0 "$qemu_pid" 2>/dev/null; then
	debugfs -R "rdump /out $run" "$run/payload.img" >/dev/null 2>&1 || true
fi
echo "# total: $((SECONDS - T0)) s; logs in $cache/last"
finish
}
main "$@"
