package tests

import (
	"strings"
	"testing"
)

// TestPreflight: on a host where the package is incomplete, apply stops
// before it changes anything and says what is missing and how to fix it,
// and `ehecoatl doctor` says the same (docs/OPERATIONS.md "Preflight").
func TestPreflight(t *testing.T) {
	h := boot(t)
	h.sh("mkdir -p /srv/m && cp -r /srv/examples/tenants /srv/examples/kits /srv/m/")
	if out, errOut, code := h.try("ehecoatl", "doctor", "/srv/m"); code != 0 {
		t.Fatalf("doctor on a complete host: exit %d\n%s%s", code, out, errOut)
	}
	for _, c := range []struct {
		name, breakIt, repair string
		says                  []string
	}{
		{"no router group",
			"cp /etc/group /tmp/group && sed -i '/^ehecoatl-router:/d' /etc/group",
			"cp /tmp/group /etc/group",
			[]string{"no group ehecoatl-router", "no request would reach an app", "groupadd --system ehecoatl-router"}},
		{"unmerged /usr",
			"test ! -e /lib32 && mkdir /lib32",
			"rmdir /lib32",
			[]string{"/lib32 is a directory, not a link into /usr", "usrmerge"}},
		{"socket directory open to every user",
			"chmod 0755 /run/ehecoatl",
			"systemd-tmpfiles --create /usr/lib/tmpfiles.d/ehecoatl.conf && test \"$(stat -c '%a %U %G' /run/ehecoatl)\" = '750 root ehecoatl-router'",
			[]string{"/run/ehecoatl is mode 0755: every local user could connect", "systemd-tmpfiles --create"}},
		{"binary not in /usr/bin",
			"mv /usr/bin/ehecoatl /usr/local/bin/ehecoatl",
			"mv /usr/local/bin/ehecoatl /usr/bin/ehecoatl",
			[]string{"/usr/bin/ehecoatl: not found", "port: apps"}},
		{"no sandbox root",
			"rm -rf /run/ehecoatl-root",
			"systemd-tmpfiles --create /usr/lib/tmpfiles.d/ehecoatl.conf",
			[]string{"/run/ehecoatl-root is missing", "systemd-tmpfiles --create"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := h.on(t)
			h.sh(c.breakIt)
			defer h.sh(c.repair)
			// The binary may have moved: call it by whichever path has it.
			bin := "PATH=/usr/local/bin:$PATH ehecoatl"
			out, errOut, code := h.try("sh", "-c", bin+" apply /srv/m")
			if code == 0 {
				t.Fatalf("apply succeeded:\n%s%s", out, errOut)
			}
			for _, s := range append(c.says, "nothing was changed") {
				if !strings.Contains(errOut, s) {
					t.Errorf("apply does not say %q:\n%s", s, errOut)
				}
			}
			if _, _, code := h.try("test", "-e", "/etc/ehecoatl/tenants"); code == 0 {
				t.Errorf("a refused apply installed manifests")
			}
			if units := h.sh("systemctl list-units --all --plain --no-legend 'ehecoatl-*.socket' | grep -v ehecoatl-router || true"); strings.TrimSpace(units) != "" {
				t.Errorf("a refused apply started sockets:\n%s", units)
			}
			out, _, code = h.try("sh", "-c", bin+" doctor /srv/m")
			if code == 0 {
				t.Errorf("doctor exits 0 on a broken host:\n%s", out)
			}
			for _, s := range c.says {
				if !strings.Contains(out, s) {
					t.Errorf("doctor does not say %q:\n%s", s, out)
				}
			}
		})
	}
	// Repaired, the same directory applies.
	h.run("ehecoatl", "apply", "/srv/m")
}
