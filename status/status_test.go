package status

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/dbus"
	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/tlsstate"
)

type fakeSource map[string]*dbus.UnitInfo

func (f fakeSource) ListUnits(_ context.Context, _ ...string) ([]dbus.UnitStatus, error) {
	var out []dbus.UnitStatus
	for _, u := range f {
		out = append(out, dbus.UnitStatus{Name: u.Name, LoadState: "loaded", ActiveState: u.ActiveState, SubState: u.SubState})
	}
	return out, nil
}

func (f fakeSource) Units(_ context.Context, names []string) ([]*dbus.UnitInfo, error) {
	out := make([]*dbus.UnitInfo, len(names))
	for i, n := range names {
		if f[n].ActiveState == "inactive" {
			panic("full properties read for an inactive unit: " + n)
		}
		out[i] = f[n]
	}
	return out, nil
}

func (f fakeSource) StateSince(_ context.Context, names []string) ([]time.Time, error) {
	out := make([]time.Time, len(names))
	for i, n := range names {
		out[i] = f[n].Since
	}
	return out, nil
}

func u64(v uint64) *uint64 { return &v }

func TestCollect(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)
	set := &manifest.Set{Tenants: []*manifest.Tenant{{Name: "acme", Apps: []*manifest.App{
		{Tenant: "acme", Name: "idle", Listen: manifest.ListenActivation, Workers: 1, Domains: []string{"a.test"}},
		{Tenant: "acme", Name: "run", Listen: manifest.ListenActivation, Workers: 1},
		{Tenant: "acme", Name: "bad", Listen: manifest.ListenActivation, Workers: 1},
		{Tenant: "acme", Name: "off", Listen: manifest.ListenActivation, Workers: 1},
		{Tenant: "acme", Name: "two", Listen: manifest.ListenActivation, Workers: 2},
	}}}}
	src := fakeSource{
		"ehecoatl-acme-idle.socket":   {Name: "ehecoatl-acme-idle.socket", ActiveState: "active", SubState: "listening", Since: t0},
		"ehecoatl-acme-run.socket":    {Name: "ehecoatl-acme-run.socket", ActiveState: "active", SubState: "running"},
		"ehecoatl-acme-run.service":   {Name: "ehecoatl-acme-run.service", ActiveState: "active", SubState: "running", Since: t0, MainPID: 42, NRestarts: 2, MemoryCurrent: u64(1 << 20), TasksCurrent: u64(3)},
		"ehecoatl-acme-bad.socket":    {Name: "ehecoatl-acme-bad.socket", ActiveState: "failed", Result: "service-start-limit-hit"},
		"ehecoatl-acme-bad.service":   {Name: "ehecoatl-acme-bad.service", ActiveState: "failed", Result: "exit-code", ExecMainCode: 1, ExecMainStatus: 1},
		"ehecoatl-acme-two@1.socket":  {Name: "ehecoatl-acme-two@1.socket", ActiveState: "active"},
		"ehecoatl-acme-two@2.socket":  {Name: "ehecoatl-acme-two@2.socket", ActiveState: "active"},
		"ehecoatl-acme-two@2.service": {Name: "ehecoatl-acme-two@2.service", ActiveState: "active", MemoryCurrent: u64(10), TasksCurrent: u64(1)},
	}
	last := func(_ context.Context, unit string) string {
		if unit == "ehecoatl-acme-bad.service" {
			return "panic: boom"
		}
		return ""
	}
	rows, err := Collect(context.Background(), set, src, "", last)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]App{}
	for _, r := range rows {
		got[r.App] = r
	}
	for app, want := range map[string]string{"idle": Idle, "run": Running, "bad": Failed, "off": Stopped, "two": Running} {
		if got[app].State != want {
			t.Errorf("%s: state %s, want %s", app, got[app].State, want)
		}
	}
	if r := got["run"]; r.Restarts != 2 || r.MemoryBytes == nil || *r.MemoryBytes != 1<<20 || r.Since == nil || !r.Since.Equal(t0) {
		t.Errorf("run: %+v", r)
	}
	if r := got["bad"]; r.LastError != "exited with status 1; systemd gave up: start limit hit (5 starts in 5 s); last line: panic: boom" {
		t.Errorf("bad: last error %q", r.LastError)
	}
	if r := got["two"]; len(r.Units) != 4 || r.Tasks == nil || *r.Tasks != 1 {
		t.Errorf("two: %+v", r)
	}
	var b strings.Builder
	Print(&b, rows, t0.Add(90*time.Second))
	for _, want := range []string{"acme    run   running  -       1m ago  1.0MiB", "acme/bad failed:", "reason: exited with status 1; systemd gave up", "last line: panic: boom"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

// The router's certificates reach the rows of their apps (same tenant),
// summed up worst first, and a failed one is explained below the table.
func TestCertificates(t *testing.T) {
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	in := func(d int) *time.Time { x := now.Add(time.Duration(d) * 24 * time.Hour); return &x }
	rec := tlsstate.Record{Domains: []tlsstate.Domain{
		{Domain: "a.example.com", Tenant: "acme", Mode: "auto", State: "valid", NotAfter: in(80)},
		{Domain: "www.a.example.com", Tenant: "acme", Mode: "auto", State: "valid", NotAfter: in(30)},
		{Domain: "b.example.com", Tenant: "acme", Mode: "auto", State: "pending"},
		{Domain: "c.example.com", Tenant: "acme", Mode: "files", State: "failed: key does not match the certificate"},
		{Domain: "x.example.com", Tenant: "other", Mode: "auto", State: "valid", NotAfter: in(5)},
	}}
	rows := []App{
		{Tenant: "acme", App: "site", Domains: []string{"a.example.com", "www.a.example.com"}},
		{Tenant: "acme", App: "new", Domains: []string{"b.example.com"}},
		{Tenant: "acme", App: "shop", Domains: []string{"c.example.com", "a.example.com"}},
		{Tenant: "acme", App: "dev", Domains: []string{"dev.acme.test", "x.example.com"}},
	}
	AttachCertificates(rows, rec)
	for i, want := range []string{"valid 30d", "pending", "failed", "-"} {
		if got := rows[i].HTTPS(now); got != want {
			t.Errorf("%s: HTTPS %q, want %q (%+v)", rows[i].App, got, want, rows[i].Certificates)
		}
	}
	var b strings.Builder
	Print(&b, rows, now)
	if !strings.Contains(b.String(), "acme/shop: certificate of c.example.com failed: key does not match the certificate") {
		t.Errorf("no explanation of the failed certificate:\n%s", b.String())
	}
}

// systemd's reason in words, from the properties status reads.
func TestReason(t *testing.T) {
	svc := func(name, result string, code, st int32) *dbus.UnitInfo {
		return &dbus.UnitInfo{Name: name, ActiveState: "failed", Result: result, ExecMainCode: code, ExecMainStatus: st}
	}
	sock := func(result string) *dbus.UnitInfo {
		return &dbus.UnitInfo{Name: "ehecoatl-a-w.socket", ActiveState: "failed", Result: result}
	}
	for _, c := range []struct {
		units []*dbus.UnitInfo
		want  string
	}{
		{[]*dbus.UnitInfo{svc("ehecoatl-a-w.service", "exit-code", 1, 203), sock("trigger-limit-hit")},
			"the program could not be executed (status 203/EXEC: missing, not executable, or not inside the sandbox); systemd gave up: start limit hit (its socket's trigger limit ended the retries)"},
		{[]*dbus.UnitInfo{svc("ehecoatl-a-w.service", "exit-code", 1, 3), sock("service-start-limit-hit")},
			"exited with status 3; systemd gave up: start limit hit (5 starts in 5 s)"},
		{[]*dbus.UnitInfo{svc("ehecoatl-a-w.service", "exit-code", 1, 243)}, "systemd could not start the program (status 243/CREDENTIALS)"},
		{[]*dbus.UnitInfo{svc("ehecoatl-a-w.service", "oom-kill", 2, 9)}, "killed by the OOM killer: out of memory (memory limit)"},
		{[]*dbus.UnitInfo{svc("ehecoatl-a-w.service", "signal", 2, 11)}, "killed by signal SIGSEGV"},
		{[]*dbus.UnitInfo{svc("ehecoatl-a-w.service", "core-dump", 3, 6)}, "killed by signal SIGABRT (core dumped)"},
		{[]*dbus.UnitInfo{svc("ehecoatl-a-w.service", "start-limit-hit", 0, 0)}, "systemd gave up: start limit hit"},
		{[]*dbus.UnitInfo{nil, svc("ehecoatl-a-w-bridge.service", "exit-code", 1, 1)}, "its bridge exited with status 1"},
		{[]*dbus.UnitInfo{{Name: "ehecoatl-a-w.service", ActiveState: "inactive", Result: "exit-code"}}, ""},
	} {
		if got := Reason(c.units); got != c.want {
			t.Errorf("Reason(%v):\n got %q\nwant %q", c.units, got, c.want)
		}
	}
}
