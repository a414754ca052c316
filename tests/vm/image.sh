#!/bin/bash
# Builds the Debian 12 VM image of the VM test tier, or reuses the cached one.
#
#   tests/vm/image.sh CACHE_DIR      prints the image directory on stdout
#
# The image is keyed by the SHA-256 of this file (the whole recipe is here):
# CACHE_DIR/img-<hash>/{root.img,vmlinuz,initrd.img}. A finished image is
# never written to again (each run boots a copy-on-write overlay of it), so
# a hit skips the build. Any edit of this file builds a new image; older
# images are deleted after a successful build. Needs root, debootstrap,
# mkfs.ext4 (e2fsprogs) and the network to the Debian mirror.
#
# Environment: VM_MIRROR (default: the first Debian mirror in
# /etc/apt/sources.list*), VM_SECURITY_MIRROR (default: the same for
# debian-security, else deb.debian.org/debian-security).
set -euo pipefail

cache=${1:?usage: image.sh CACHE_DIR}
self=$(readlink -f "${BASH_SOURCE[0]}")
hash=$(sha256sum "$self" | cut -c1-16)
img=$cache/img-$hash
log() { echo "vm image: $*" >&2; }

if [ -f "$img/done" ]; then
	log "cached $img"
	echo "$img"
	exit 0
fi

# The host's Debian mirrors, from the one-line or deb822 apt sources.
mirror_of() { # suite-word -> first URI whose entry lists a suite matching it
	local want=$1 f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		case $f in
		*.sources)
			awk -v want="$want" '
				/^[ \t]*$/ { if (uri != "" && ok) { print uri; exit } uri = ""; ok = 0; next }
				/^URIs:/ { uri = $2 }
				/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == want) ok = 1 }
				END { if (uri != "" && ok) print uri }' "$f" ;;
		*)
			awk -v want="$want" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { if ($(i+1) == want) { print $i; exit } } }' "$f" ;;
		esac
	done | head -n1
}
mirror=${VM_MIRROR:-$(mirror_of bookworm)}
mirror=${mirror:-http://deb.debian.org/debian}
security=${VM_SECURITY_MIRROR:-$(mirror_of bookworm-security)}
security=${security:-http://deb.debian.org/debian-security}
log "building $img (mirror $mirror, security $security)"

mkdir -p "$cache"
work=$(mktemp -d "$cache/build.XXXXXX")
root=$work/rootfs
cleanup() {
	# Unmount whatever the chroot step left mounted, innermost first.
	for m in "$root/dev" "$root/sys" "$root/proc"; do
		mountpoint -q "$m" 2>/dev/null && umount -R "$m" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$SECONDS
debootstrap --variant=minbase \
	--include=systemd,systemd-sysv,dbus,udev,python3,iproute2,procps,kmod,netcat-openbsd,util-linux,curl,ca-certificates,e2fsprogs,nftables \
	bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
	tail -n 30 "$work/debootstrap.log" >&2
	exit 1
}
log "debootstrap: $((SECONDS - t0)) s"

t1=$SECONDS
cat >"$root/etc/apt/sources.list" <<SRC
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
SRC
mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
mount --rbind /dev "$root/dev"
mount --make-rslave "$root/dev"
chroot "$root" /bin/sh -c '
	set -e
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends linux-image-cloud-amd64 initramfs-tools zstd
	apt-get upgrade -y -qq
	apt-get clean
	rm -rf /var/lib/apt/lists/*
' >"$work/kernel.log" 2>&1 || {
	tail -n 30 "$work/kernel.log" >&2
	exit 1
}
umount -R "$root/dev" "$root/sys" "$root/proc"
log "kernel: $((SECONDS - t1)) s"

# Configuration. The guest has no network device and no login; it boots,
# runs vmtest.service and powers off.
echo vmtest >"$root/etc/hostname"
echo "127.0.1.1 vmtest" >>"$root/etc/hosts"
echo "/dev/vda / ext4 rw,errors=remount-ro 0 1" >"$root/etc/fstab"
chroot "$root" passwd -d root >/dev/null
# A real host has no policy-rc.d: maintainer scripts must start services.
rm -f "$root/usr/sbin/policy-rc.d"
# Nothing else writes to the serial console than the test runner.
chroot "$root" systemctl mask -q serial-getty@ttyS0.service getty@tty1.service \
	apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer 2>/dev/null || true
mkdir -p "$root/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\nForwardToConsole=no\n' >"$root/etc/systemd/journald.conf.d/vmtest.conf"

# The test unit: after the boot has finished, mount the payload disk
# (label vmtest, built per run by tests/vm/run.sh), run its runner.sh with
# output on the serial console, power off. Type=simple so that the boot job
# does not wait for it (is-system-running --wait would wait for itself).
cat >"$root/usr/local/sbin/vmtest-boot" <<'BOOT'
#!/bin/sh
state=$(systemctl is-system-running --wait)
echo "@@ booted $(cut -d' ' -f1 /proc/uptime) $state"
mkdir -p /vmtest
if mount LABEL=vmtest /vmtest; then
	sh /vmtest/runner.sh
	sync
	umount /vmtest
else
	echo "@@ FAIL vm: no payload disk (LABEL=vmtest)"
fi
echo "@@ poweroff"
systemctl poweroff --no-block
BOOT
chmod 755 "$root/usr/local/sbin/vmtest-boot"
cat >"$root/etc/systemd/system/vmtest.service" <<'UNIT'
[Unit]
Description=Ehecoatl VM test tier
After=multi-user.target

[Service]
Type=simple
ExecStart=/usr/local/sbin/vmtest-boot
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
TTYReset=no
TTYVHangup=no

[Install]
WantedBy=multi-user.target
UNIT
chroot "$root" systemctl enable -q vmtest.service

cp -L "$root/vmlinuz" "$work/vmlinuz"
cp -L "$root/initrd.img" "$work/initrd.img"
t2=$SECONDS
mkfs.ext4 -q -F -L root -d "$root" "$work/root.img" 3G >&2
log "mkfs: $((SECONDS - t2)) s"
rm -rf "$root"
chmod 0444 "$work/root.img"

# Publish atomically, then drop older images.
find "$cache" -maxdepth 1 -name 'img-*' ! -name "img-$hash" -exec rm -rf {} +
mv "$work" "$img"
touch "$img/done"
trap - EXIT
log "built $img in $((SECONDS - t0)) s"
echo "$img"
