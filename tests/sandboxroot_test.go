package tests

import (
	"encoding/json"
	"strings"
	"testing"
)

// rootLinks is the sandbox root as packaging/tmpfiles.d makes it: empty
// mount points, and /bin, /sbin and /lib* linked into /usr (find -printf
// '%P %y %l', sorted).
const rootLinks = `bin l usr/bin
dev d 
etc d 
home d 
lib l usr/lib
lib32 l usr/lib32
lib64 l usr/lib64
libx32 l usr/libx32
media d 
mnt d 
opt d 
proc d 
root d 
run d 
sbin l usr/sbin
srv d 
sys d 
tmp d 
usr d 
var d 
`

// oldRootDirs turns the sandbox root back into the one of the package
// before the links (empty 0555 directories for /bin, /sbin and /lib*).
const oldRootDirs = `set -e
cd /run/ehecoatl-root
for d in bin sbin lib lib64 lib32 libx32; do rm "$d"; mkdir -m 0555 "$d"; done`

// TestSandboxRootLinks: the profile binds only /usr and /etc; /bin, /sbin
// and /lib* are links in the sandbox root (docs/DESIGN.md "File system:
// an empty root"). An app still runs /bin/sh and a dynamic program whose
// loader is /lib64/ld-linux-x86-64.so.2 (python3), none of those paths is
// a mount, and the root holds nothing else. A package upgrade without a
// reboot (tmpfiles over the old root's directories) turns them into the
// links, also under an app that keeps running.
func TestSandboxRootLinks(t *testing.T) {
	h := boot(t)
	root := func() string {
		return h.sh("find /run/ehecoatl-root -mindepth 1 -printf '%P %y %l\\n' | sort")
	}
	if got := root(); got != rootLinks {
		t.Fatalf("the sandbox root after boot:\n%s\nwant:\n%s", got, rootLinks)
	}
	h.writeTenant("links", `tenant: links
apps:
  web:
    command: [/bin/sh, -c, exec /usr/bin/python3 /srv/testdata/probe.py]
    listen: activation
    domains: [links.test]
    read_only: [/srv/testdata]
    idle_timeout: 0
`)
	h.run("ehecoatl", "apply", "/srv/m")
	const unit = "ehecoatl-links-web.service"
	probe := func(t *testing.T) map[string]any {
		t.Helper()
		code, body := h.get("/run/ehecoatl/links/web.sock", "links.test", "/")
		if code != 200 {
			t.Fatalf("GET: %d %s\n%s", code, body, h.sh("journalctl -u "+unit+" --no-pager -n 20 || true"))
		}
		var f map[string]any
		if err := json.Unmarshal([]byte(body), &f); err != nil {
			t.Fatalf("probe answer: %v: %s", err, body)
		}
		return f
	}
	// The app's own read_only path, and the OS: /usr and /etc only.
	if got := h.prop(unit, "BindReadOnlyPaths"); got != "/srv/testdata:/srv/testdata:rbind /usr:/usr:rbind /etc:/etc:rbind" {
		t.Errorf("BindReadOnlyPaths=%q, want /srv/testdata, /usr and /etc", got)
	}
	t.Run("the app runs /bin/sh and python3 through the links", func(t *testing.T) {
		f := probe(t)
		for k, want := range map[string]string{
			"root_links": "ok: /bin -> usr/bin, /sbin -> usr/sbin, /lib -> usr/lib, /lib64 -> usr/lib64",
			"run_sh":     "ok: sh-ok",
			"list_root":  "ok: bin dev etc home lib lib32 lib64 libx32 media mnt opt proc root run sbin srv sys tmp usr var",
		} {
			if got, _ := f[k].(string); got != want {
				t.Errorf("%s: %q, want %q", k, got, want)
			}
		}
		mounts, _ := f["mount_points"].(string)
		for _, p := range strings.Fields(mounts) {
			for _, l := range []string{"/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"} {
				if p == l || strings.HasPrefix(p, l+"/") {
					t.Errorf("%s is a mount point in the app: %s", p, mounts)
				}
			}
		}
		t.Logf("the app's %d mounts: %s", len(strings.Fields(mounts)), mounts)
	})
	t.Run("the root stays as tmpfiles made it", func(t *testing.T) {
		if got := root(); got != rootLinks {
			t.Errorf("the sandbox root with an app running:\n%s", got)
		}
	})
	t.Run("an upgrade without reboot replaces the old root's directories", func(t *testing.T) {
		h := h.on(t)
		// The old package: directories in the root, and units that bind
		// /bin, /sbin and /lib* onto them.
		h.sh(oldRootDirs + `
mkdir -p /run/systemd/system/` + unit + `.d
printf '[Service]\nBindReadOnlyPaths=-/bin -/sbin -/lib -/lib64 -/lib32 -/libx32\n' >/run/systemd/system/` + unit + `.d/old-binds.conf
systemctl daemon-reload
systemctl restart ` + unit)
		f := probe(t)
		if got, _ := f["root_links"].(string); got != "ok: /bin dir, /sbin dir, /lib dir, /lib64 dir" {
			t.Fatalf("the old root: root_links %q", got)
		}
		pid := h.prop(unit, "MainPID")
		// The upgrade: tmpfiles first (postinst), then the daemon-reload.
		if out, errOut, code := h.try("systemd-tmpfiles", "--create", "ehecoatl.conf"); code != 0 {
			t.Fatalf("systemd-tmpfiles --create: exit %d\n%s%s", code, out, errOut)
		}
		if got := root(); got != rootLinks {
			t.Errorf("the sandbox root after tmpfiles over the old one:\n%s", got)
		}
		// The running app (old unit, its binds of /bin... detached by the
		// rmdir) sees the links in its / and still runs /bin/sh.
		f = probe(t)
		if got := h.prop(unit, "MainPID"); got != pid {
			t.Errorf("MainPID %s -> %s: the app did not keep running", pid, got)
		}
		for k, want := range map[string]string{
			"root_links": "ok: /bin -> usr/bin, /sbin -> usr/sbin, /lib -> usr/lib, /lib64 -> usr/lib64",
			"run_sh":     "ok: sh-ok",
		} {
			if got, _ := f[k].(string); got != want {
				t.Errorf("the running app after tmpfiles: %s: %q, want %q", k, got, want)
			}
		}
		// An old unit started on the new root (between tmpfiles and the
		// daemon-reload) works too.
		h.run("systemctl", "restart", unit)
		if got, _ := probe(t)["run_sh"].(string); got != "ok: sh-ok" {
			t.Errorf("an old unit on the new root: run_sh %q", got)
		}
		h.sh("rm -r /run/systemd/system/" + unit + ".d && systemctl daemon-reload && systemctl restart " + unit)
		if got, _ := probe(t)["run_sh"].(string); got != "ok: sh-ok" {
			t.Errorf("the new unit after the upgrade: run_sh %q", got)
		}
		if got := root(); got != rootLinks {
			t.Errorf("the sandbox root after the upgrade:\n%s", got)
		}
	})
	t.Run("doctor refuses the old root", func(t *testing.T) {
		h := h.on(t)
		h.sh(oldRootDirs)
		defer h.run("systemd-tmpfiles", "--create", "ehecoatl.conf")
		out, errOut, code := h.try("ehecoatl", "apply", "/srv/m")
		if code == 0 || !strings.Contains(errOut, "/run/ehecoatl-root/bin is not a link to usr/bin") || !strings.Contains(errOut, "systemd-tmpfiles --create") {
			t.Errorf("apply on the old root: exit %d\n%s%s", code, out, errOut)
		}
	})
}
