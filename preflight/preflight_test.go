package preflight

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
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
	for _, f := range []string{naming.GeneratorBin, naming.Bin, naming.ExecBin} {
		p := filepath.Join(root, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range append([]string{""}, sandboxMounts...) {
		os.MkdirAll(filepath.Join(root, naming.SandboxRoot, m), 0o555)
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
		{name: "no launcher", break_: func(root string, _ *Host) { os.Remove(filepath.Join(root, naming.ExecBin)) },
			check: "launcher", level: Fail, says: "status 203/EXEC"},
		{name: "no socket directory", break_: func(root string, _ *Host) { os.Remove(filepath.Join(root, naming.RunDir)) },
			check: "socket directory", level: Fail, says: naming.RunDir + " is missing"},
		{name: "socket directory open to all", break_: func(root string, _ *Host) { os.Chmod(filepath.Join(root, naming.RunDir), 0o755) },
			check: "socket directory", level: Fail, says: "mode 0755: every local user could connect"},
		{name: "socket directory of another group", break_: func(_ string, h *Host) {
			h.GroupName = func(uint32) (string, error) { return "root", nil }
		}, check: "socket directory", level: Fail, says: "of group root: the router (group ehecoatl-router) could not reach"},
		{name: "socket directory closed to the group", break_: func(root string, _ *Host) { os.Chmod(filepath.Join(root, naming.RunDir), 0o700) },
			check: "socket directory", level: Fail, says: "mode 0700 of group ehecoatl-router"},
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
			for _, r := range rs {
				switch {
				case r.Check == c.check:
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
			if err := (&Error{Failed: Failed(rs)}); c.level == Fail && !strings.Contains(err.Error(), "nothing was changed") {
				t.Errorf("error: %v", err)
			}
		})
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
