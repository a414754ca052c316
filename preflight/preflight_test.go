package preflight

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ehecoatl/ehecoatl/dbus"
	"github.com/ehecoatl/ehecoatl/layout"
	"github.com/ehecoatl/ehecoatl/naming"
)

type fakeSystemd struct {
	version string
	units   []dbus.UnitStatus
	err     error
}

func (f fakeSystemd) ManagerStats(context.Context) (dbus.ManagerStats, error) {
	return dbus.ManagerStats{Version: f.version}, f.err
}

func (f fakeSystemd) ListUnits(context.Context, ...string) ([]dbus.UnitStatus, error) {
	return f.units, f.err
}

// host builds a complete host below a temporary root; break_ then takes
// one thing away.
func host(t *testing.T, break_ func(root string, h *Host)) Host {
	root := t.TempDir()
	for _, f := range []string{naming.GeneratorBin, naming.Bin} {
		p := filepath.Join(root, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range append([]string{""}, sandboxMounts...) {
		os.MkdirAll(filepath.Join(root, naming.SandboxRoot, m), 0o555)
	}
	// A merged /usr (lib32 and libx32 absent), and the root's links.
	for _, m := range []string{"bin", "sbin", "lib", "lib64"} {
		os.MkdirAll(filepath.Join(root, "usr", m), 0o755)
		os.Symlink("usr/"+m, filepath.Join(root, m))
	}
	for _, m := range usrLinks {
		os.Symlink("usr/"+m, filepath.Join(root, naming.SandboxRoot, m))
	}
	os.MkdirAll(filepath.Join(root, naming.RunDir), 0o750)
	os.Chmod(filepath.Join(root, naming.RunDir), 0o750)
	os.MkdirAll(filepath.Join(root, "sys/fs/cgroup"), 0o755)
	os.WriteFile(filepath.Join(root, "sys/fs/cgroup/cgroup.controllers"), []byte("cpu memory pids\n"), 0o644)
	h := Host{
		Layout:      layout.Layout{Root: root},
		Systemd:     fakeSystemd{version: "252.30-1~deb12u2", units: []dbus.UnitStatus{{Name: naming.RouterSocket, ActiveState: "active", SubState: "listening"}}},
		LookupGroup: func(string) error { return nil },
		GroupName:   func(uint32) (string, error) { return naming.RouterGroup, nil },
	}
	if break_ != nil {
		break_(root, &h)
	}
	return h
}

func TestRun(t *testing.T) {
	for _, c := range []struct {
		name   string
		needs  Needs
		break_ func(root string, h *Host)
		check  string // the check that is not OK ("" = all OK)
		level  Level
		says   string
	}{
		{name: "complete host", needs: Needs{Bridge: true, Egress: true}},
		{name: "no router group", break_: func(_ string, h *Host) { h.LookupGroup = func(string) error { return errors.New("unknown group") } },
			check: "group", level: Fail, says: "no request would reach an app"},
		{name: "old systemd", break_: func(_ string, h *Host) {
			h.Systemd = fakeSystemd{version: "249.11", units: h.Systemd.(fakeSystemd).units}
		},
			check: "systemd", level: Fail, says: "252 or newer"},
		{name: "no systemd", break_: func(_ string, h *Host) { h.Systemd = fakeSystemd{err: errors.New("connect to systemd: no bus")} },
			check: "systemd", level: Fail, says: "no bus"},
		{name: "no generator", break_: func(root string, _ *Host) { os.Remove(filepath.Join(root, naming.GeneratorBin)) },
			check: "generator", level: Fail, says: naming.GeneratorBin},
		{name: "binary elsewhere, port apps", needs: Needs{Bridge: true}, break_: func(root string, _ *Host) { os.Remove(filepath.Join(root, naming.Bin)) },
			check: "binary", level: Fail, says: "port: apps"},
		{name: "binary elsewhere, no port apps", break_: func(root string, _ *Host) { os.Remove(filepath.Join(root, naming.Bin)) },
			check: "binary", level: Warn, says: naming.Bin},
		{name: "no sandbox root", break_: func(root string, _ *Host) { os.RemoveAll(filepath.Join(root, naming.SandboxRoot, "usr")) },
			check: "sandbox root", level: Fail, says: naming.SandboxRoot + "/usr"},
		{name: "sandbox root of an old install", break_: func(root string, _ *Host) {
			p := filepath.Join(root, naming.SandboxRoot, "lib64")
			os.Remove(p)
			os.Mkdir(p, 0o555)
		},
			check: "sandbox root", level: Fail, says: naming.SandboxRoot + "/lib64 is not a link to usr/lib64"},
		{name: "unmerged /usr", break_: func(root string, _ *Host) {
			os.Remove(filepath.Join(root, "bin"))
			os.Mkdir(filepath.Join(root, "bin"), 0o755)
		},
			check: "merged /usr", level: Fail, says: "/bin is a directory, not a link into /usr"},
		{name: "/sbin elsewhere in /usr", break_: func(root string, _ *Host) {
			os.Remove(filepath.Join(root, "sbin"))
			os.Symlink("/usr/bin", filepath.Join(root, "sbin"))
		},
			check: "merged /usr", level: Fail, says: "/sbin links to /usr/bin"},
		{name: "absolute links into /usr", break_: func(root string, _ *Host) {
			os.Remove(filepath.Join(root, "lib"))
			os.Symlink("/usr/lib", filepath.Join(root, "lib"))
		}},
		{name: "no socket directory", break_: func(root string, _ *Host) { os.Remove(filepath.Join(root, naming.RunDir)) },
			check: "socket directory", level: Fail, says: naming.RunDir + " is missing"},
		{name: "socket directory open to all", break_: func(root string, _ *Host) { os.Chmod(filepath.Join(root, naming.RunDir), 0o755) },
			check: "socket directory", level: Fail, says: "mode 0755: every local user could connect"},
		{name: "socket directory of another group", break_: func(_ string, h *Host) {
			h.GroupName = func(uint32) (string, error) { return "root", nil }
		}, check: "socket directory", level: Fail, says: "of group root: the router (group ehecoatl-router) could not reach"},
		{name: "socket directory closed to the group", break_: func(root string, _ *Host) { os.Chmod(filepath.Join(root, naming.RunDir), 0o700) },
			check: "socket directory", level: Fail, says: "mode 0700 of group ehecoatl-router"},
		{name: "metrics off", break_: func(root string, _ *Host) {
			writeDefault(t, root, "EHECOATL_METRICS_LISTEN=\"off\"\n")
		}},
		{name: "bad metrics address", break_: func(root string, _ *Host) {
			writeDefault(t, root, "EHECOATL_ROUTER_OPTS=\"\"\nEHECOATL_METRICS_LISTEN=\"9808\"\n")
		}, check: "metrics", level: Warn, says: "/etc/default/ehecoatl-router:2: EHECOATL_METRICS_LISTEN=\"9808\" is a bare port"},
		{name: "cgroup v1", break_: func(root string, _ *Host) { os.Remove(filepath.Join(root, "sys/fs/cgroup/cgroup.controllers")) },
			check: "cgroup v2", level: Warn, says: "not enforced"},
		{name: "router socket stopped", break_: func(_ string, h *Host) { h.Systemd = fakeSystemd{version: "252"} },
			check: "router socket", level: Warn, says: "not loaded"},
		{name: "firewall failed", needs: Needs{Egress: true}, break_: func(_ string, h *Host) {
			h.Systemd = fakeSystemd{version: "252", units: []dbus.UnitStatus{
				{Name: naming.RouterSocket, ActiveState: "active"}, {Name: naming.FirewallUnit, ActiveState: "failed"}}}
		}, check: "firewall", level: Warn, says: "will not start"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rs := Run(context.Background(), host(t, c.break_), c.needs)
			found := c.check == ""
			for _, r := range rs {
				switch {
				case r.Check == c.check:
					found = true
					if r.Level != c.level || !strings.Contains(r.Detail, c.says) {
						t.Errorf("%s: %s %q, want %s saying %q", r.Check, r.Level, r.Detail, c.level, c.says)
					}
					if r.Fix == "" {
						t.Errorf("%s: no fix given", r.Check)
					}
				case r.Level != OK:
					t.Errorf("%s: %s %q, want ok", r.Check, r.Level, r.Detail)
				}
			}
			if !found {
				t.Errorf("no check %q ran", c.check)
			}
			if err := (&Error{Failed: Failed(rs)}); c.level == Fail && !strings.Contains(err.Error(), "nothing was changed") {
				t.Errorf("error: %v", err)
			}
		})
	}
}

// TestUsrLinksAreThePackages: the links preflight requires in the sandbox
// root are the ones the package's tmpfiles.d makes, and the profile binds
// none of them.
func TestUsrLinksAreThePackages(t *testing.T) {
	b, err := os.ReadFile("../packaging/tmpfiles.d/ehecoatl.conf")
	if err != nil {
		t.Fatal(err)
	}
	var links []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 7 && f[0] == "L+" {
			name := strings.TrimPrefix(f[1], naming.SandboxRoot+"/")
			if f[6] != "usr/"+name {
				t.Errorf("%s links to %s, want usr/%s", f[1], f[6], name)
			}
			links = append(links, name)
		}
	}
	if strings.Join(links, " ") != strings.Join(usrLinks, " ") {
		t.Errorf("tmpfiles.d links %v, preflight checks %v", links, usrLinks)
	}
	h, err := os.ReadFile("../templates/hardening.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(h), "\n") {
		if v, ok := strings.CutPrefix(l, "BindReadOnlyPaths="); ok {
			for _, p := range strings.Fields(v) {
				if slices.Contains(usrLinks, strings.TrimPrefix(strings.TrimPrefix(p, "-"), "/")) {
					t.Errorf("the profile binds %s, which the sandbox root links into /usr", p)
				}
			}
		}
	}
}

// Every need survives apply's record of it (Names, NeedsNamed): a need
// added to Needs is recorded without touching apply.
func TestNeedsNamesRoundTrip(t *testing.T) {
	var all Needs
	v := reflect.ValueOf(&all).Elem()
	for i := 0; i < v.NumField(); i++ {
		v.Field(i).SetBool(true)
	}
	if got := NeedsNamed(all.Names()); got != all {
		t.Errorf("NeedsNamed(%q) = %+v, want %+v", all.Names(), got, all)
	}
	if got := NeedsNamed((Needs{}).Names()); got != (Needs{}) {
		t.Errorf("no needs came back as %+v", got)
	}
}

func writeDefault(t *testing.T, root, s string) {
	p := filepath.Join(root, "etc/default/ehecoatl-router")
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
