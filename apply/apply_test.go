package apply

import (
	"context"
	"errors"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/ehecoatl/ehecoatl/bootgen"
	"github.com/ehecoatl/ehecoatl/dbus"
	"github.com/ehecoatl/ehecoatl/generator"
	"github.com/ehecoatl/ehecoatl/layout"
	"github.com/ehecoatl/ehecoatl/naming"
	"github.com/ehecoatl/ehecoatl/plan"
	"github.com/ehecoatl/ehecoatl/stops"
)

// fakeSystemd plays systemd for the apply engine: Reload runs the generator
// over the installed manifests as the real one would, starting
// ehecoatl.target makes every wanted socket active, and every call is
// recorded.
type fakeSystemd struct {
	l       layout.Layout
	active  map[string]bool
	failed  map[string]bool
	calls   []string
	down    bool // systemd unreachable
	noStart map[string]bool
	// onReload, when set, runs at each ReloadUnit (a router reading the
	// drain record).
	onReload func(unit string)
	// onRestart, when set, runs at each RestartMany.
	onRestart func(units []string)
}

var _ Systemd = (*fakeSystemd)(nil)

func newFake(l layout.Layout) *fakeSystemd {
	return &fakeSystemd{l: l, active: map[string]bool{}, failed: map[string]bool{}, noStart: map[string]bool{}}
}

func (f *fakeSystemd) call(s string) error {
	if f.down {
		return errors.New("no systemd")
	}
	f.calls = append(f.calls, s)
	return nil
}

func (f *fakeSystemd) Reload(context.Context) error {
	if err := f.call("reload"); err != nil {
		return err
	}
	out := f.l.GeneratorOut()
	os.RemoveAll(out)
	os.MkdirAll(out, 0o755)
	return bootgen.SystemdGenerator{Root: f.l.Root, Log: func(string) {}}.Run([]string{out, out, out})
}

func (f *fakeSystemd) StartMany(_ context.Context, u []string) error {
	if err := f.call("start " + strings.Join(u, " ")); err != nil {
		return err
	}
	for _, n := range u {
		if n != naming.RootTarget {
			f.active[n] = true
			continue
		}
		ents, _ := os.ReadDir(filepath.Join(f.l.GeneratorOut(), naming.SocketsWants))
		for _, e := range ents {
			if !f.noStart[e.Name()] {
				f.active[e.Name()] = true
			}
		}
	}
	return nil
}

func (f *fakeSystemd) StopMany(_ context.Context, u []string) error {
	for _, n := range u {
		delete(f.active, n)
	}
	return f.call("stop " + strings.Join(u, " "))
}

func (f *fakeSystemd) TryRestartMany(_ context.Context, u []string) error {
	return f.call("try-restart " + strings.Join(u, " "))
}

func (f *fakeSystemd) RestartMany(_ context.Context, u []string) error {
	if f.onRestart != nil {
		f.onRestart(u)
	}
	return f.call("restart " + strings.Join(u, " "))
}

// ListUnits knows the active and the failed units; the rest are not loaded.
func (f *fakeSystemd) ListUnits(_ context.Context, patterns ...string) ([]dbus.UnitStatus, error) {
	if f.down {
		return nil, errors.New("no systemd")
	}
	var out []dbus.UnitStatus
	for _, m := range []struct {
		units map[string]bool
		state string
	}{{f.active, "active"}, {f.failed, "failed"}} {
		for u, ok := range m.units {
			if !ok {
				continue
			}
			for _, p := range patterns {
				if match, _ := path.Match(p, u); match {
					out = append(out, dbus.UnitStatus{Name: u, LoadState: "loaded", ActiveState: m.state})
					break
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ListUnitsIn filters ListUnits as systemd does: by load, active or sub
// state.
func (f *fakeSystemd) ListUnitsIn(ctx context.Context, states []string, patterns ...string) ([]dbus.UnitStatus, error) {
	l, err := f.ListUnits(ctx, patterns...)
	if err != nil || len(states) == 0 {
		return l, err
	}
	var out []dbus.UnitStatus
	for _, u := range l {
		if slices.Contains(states, u.LoadState) || slices.Contains(states, u.ActiveState) || slices.Contains(states, u.SubState) {
			out = append(out, u)
		}
	}
	return out, nil
}

func (f *fakeSystemd) ResetFailed(_ context.Context, u string) error {
	delete(f.failed, u)
	return f.call("reset-failed " + u)
}

func (f *fakeSystemd) ReloadUnit(_ context.Context, u string) error {
	if f.onReload != nil {
		f.onReload(u)
	}
	return f.call("reload " + u)
}

// copyDir copies the examples into a directory the test may edit.
func copyDir(t *testing.T, src string) string {
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestApplyEngine(t *testing.T) {
	ctx := context.Background()
	l := layout.Layout{Root: t.TempDir()}
	opts := Options{Layout: l, Generator: generator.Options{SourceDir: layout.EtcDir}}
	dir := copyDir(t, "../examples")
	sd := newFake(l)

	// First apply: install, one reload, one start of ehecoatl.target.
	res, err := Apply(ctx, dir, sd, opts)
	if err != nil {
		t.Fatal(err)
	}
	_, installed := res.Did(plan.Install)
	_, reloaded := res.Did(plan.Reload)
	if listen, _ := res.Did(plan.Listen); !installed || !reloaded || len(listen.Units) != 6 {
		t.Fatalf("first apply: %+v", res)
	}
	if want := []string{"reload", "start " + naming.RootTarget}; !reflect.DeepEqual(sd.calls, want) {
		t.Errorf("first apply calls %q, want %q", sd.calls, want)
	}

	// Same directory again: no call that changes anything.
	sd.calls = nil
	if res, err = Apply(ctx, dir, sd, opts); err != nil || res.Changed() || len(sd.calls) != 0 {
		t.Errorf("second apply: %+v %v, calls %q", res, err, sd.calls)
	}

	// An env change: a restart, no reload; the app's service does not run
	// (idle), so the rollout leaves it to its next request.
	sd.calls = nil
	edit(t, filepath.Join(dir, "tenants/acme.yaml"), "GREETING: 'Hello, 100% \"quoted\" $world'", "GREETING: changed")
	if res, err = Apply(ctx, dir, sd, opts); err != nil || reloadedBy(res) {
		t.Fatalf("env change: %+v %v", res, err)
	}
	if len(sd.calls) != 0 {
		t.Errorf("env change calls %q, want none (the app is idle)", sd.calls)
	}

	// A removed tenant: reload, stop its units; a failed unit is reset.
	sd.calls = nil
	sd.failed["ehecoatl-initech-site.service"] = true
	os.Remove(filepath.Join(dir, "tenants/initech.yaml"))
	if res, err = Apply(ctx, dir, sd, opts); err != nil || !reloadedBy(res) {
		t.Fatalf("removal: %+v %v", res, err)
	}
	want := []string{"reload", "stop ehecoatl-initech-site.service ehecoatl-initech-site.socket", "reset-failed ehecoatl-initech-site.service"}
	if !reflect.DeepEqual(sd.calls, want) {
		t.Errorf("removal calls %q, want %q", sd.calls, want)
	}

	// systemd unreachable: nothing is installed.
	edit(t, filepath.Join(dir, "tenants/acme.yaml"), "GREETING: changed", "GREETING: again")
	before, _ := installedFiles(l.Etc())
	sd.down = true
	if _, err := Apply(ctx, dir, sd, opts); err == nil || !strings.Contains(err.Error(), "nothing was changed") {
		t.Errorf("apply without systemd: %v", err)
	}
	if after, _ := installedFiles(l.Etc()); !sameFiles(before, after) {
		t.Errorf("apply without systemd changed the installed manifests")
	}
	sd.down = false

	// A socket that does not start is an error naming it.
	sd.noStart["ehecoatl-acme-web.socket"] = true
	delete(sd.active, "ehecoatl-acme-web.socket")
	if _, err := Apply(ctx, dir, sd, opts); err == nil || !strings.Contains(err.Error(), "ehecoatl-acme-web.socket") {
		t.Errorf("unstartable socket: %v", err)
	}
}

func reloadedBy(r *Result) bool {
	_, ok := r.Did(plan.Reload)
	return ok
}

// TestApplyLock: a second apply while one runs fails at once, clearly.
func TestApplyLock(t *testing.T) {
	l := layout.Layout{Root: t.TempDir()}
	unlock, err := lock(l)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if _, err := lock(l); err == nil || !strings.Contains(err.Error(), "another apply is running") {
		t.Errorf("second lock: %v", err)
	}
}

func edit(t testing.TB, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), old) {
		t.Fatalf("%s lacks %q (%v)", path, old, err)
	}
	os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644)
}

// start, stop and restart run in the same engine as apply: stop takes down
// only what runs, services before sockets, and records the stop; start
// and restart clear it; restart resets a failed unit first; a suspended
// tenant is not started, nor one app of a tenant stopped as a whole.
func TestControl(t *testing.T) {
	ctx := context.Background()
	l := layout.Layout{Root: t.TempDir()}
	sd := newFake(l)
	opts := Options{Layout: l}
	app := Target{Tenant: "a", App: "w", Apps: []naming.Units{{Sockets: []string{"ehecoatl-a-w.socket"}, Services: []string{"ehecoatl-a-w.service"}}}}
	for _, c := range []struct {
		verb    string
		before  func()
		want    []string
		refused bool
		stopped bool
	}{
		{verb: "start", want: []string{"start ehecoatl-a-w.socket", "start ehecoatl-a-w.service"}},
		{verb: "stop", want: []string{"stop ehecoatl-a-w.service", "stop ehecoatl-a-w.socket"}, stopped: true},
		{verb: "stop", stopped: true},
		{verb: "restart", want: []string{"start ehecoatl-a-w.socket", "restart ehecoatl-a-w.service"}},
		// The fake's restart leaves the service as it was: inactive.
		{verb: "stop", want: []string{"stop ehecoatl-a-w.socket"}, stopped: true},
		{verb: "start", want: []string{"start ehecoatl-a-w.socket", "start ehecoatl-a-w.service"}},
		{verb: "restart", before: func() { sd.failed["ehecoatl-a-w.service"] = true },
			want: []string{"reset-failed ehecoatl-a-w.service", "start ehecoatl-a-w.socket", "restart ehecoatl-a-w.service"}},
	} {
		sd.calls = nil
		if c.before != nil {
			c.before()
		}
		_, err := Control(ctx, c.verb, app, nil, sd, opts)
		if (err != nil) != c.refused {
			t.Fatalf("%s: %v, want refused %v", c.verb, err, c.refused)
		}
		if !reflect.DeepEqual(sd.calls, c.want) {
			t.Errorf("%s: calls %q, want %q", c.verb, sd.calls, c.want)
		}
		rec, err := stops.Load(l.Stops())
		if err != nil || rec.Stopped("a", "w") != c.stopped {
			t.Errorf("after %s: stopped %v (%v), want %v", c.verb, rec.Stopped("a", "w"), err, c.stopped)
		}
	}
	if _, err := Control(ctx, "kill", app, nil, sd, opts); err == nil {
		t.Errorf("an unknown verb ran")
	}
	Control(ctx, "stop", Target{Tenant: "a"}, nil, sd, opts)
	if _, err := Control(ctx, "start", app, nil, sd, opts); err == nil || !strings.Contains(err.Error(), "'ehecoatl start a'") {
		t.Errorf("start of one app of a stopped tenant: %v, want refused", err)
	}
	sus := app
	sus.Suspended = true
	if _, err := Control(ctx, "start", sus, nil, sd, opts); err == nil || !strings.Contains(err.Error(), "suspended") {
		t.Errorf("start of a suspended tenant: %v, want refused", err)
	}
}

// An operator stop holds through applies: the stopped tenant's sockets
// lose their ehecoatl.target.wants links (the generator drops them too, so
// the digests agree) and listen leaves them down while another tenant's
// change is applied; a suspended tenant is stopped by the next apply.
func TestApplyHeld(t *testing.T) {
	ctx := context.Background()
	l := layout.Layout{Root: t.TempDir()}
	opts := Options{Layout: l, Generator: generator.Options{SourceDir: layout.EtcDir}}
	dir := copyDir(t, "../examples")
	sd := newFake(l)
	if _, err := Apply(ctx, dir, sd, opts); err != nil {
		t.Fatal(err)
	}
	const acme = "ehecoatl-acme-web.socket"
	if err := stops.Save(l.Stops(), stops.Record{Stops: []stops.Stop{{Tenant: "acme", By: "test"}}}, "no-such-group-here"); err != nil {
		t.Fatal(err)
	}
	delete(sd.active, acme)
	delete(sd.active, "ehecoatl-globex-www.socket") // something else to start
	res, err := Apply(ctx, dir, sd, opts)
	if err != nil {
		t.Fatal(err)
	}
	listen, _ := res.Did(plan.Listen)
	if sd.active[acme] || !sd.active["ehecoatl-globex-www.socket"] || !reflect.DeepEqual(listen.Held, []string{"acme/web (stopped)"}) {
		t.Errorf("apply after a stop: acme active %v, globex active %v, listen %+v", sd.active[acme], sd.active["ehecoatl-globex-www.socket"], listen)
	}
	if _, err := os.Lstat(filepath.Join(l.GeneratorOut(), naming.SocketsWants, acme)); err == nil {
		t.Errorf("%s is still wanted by %s", acme, naming.RootTarget)
	}
	// The next apply finds the generator's digest equal: no reload.
	sd.calls = nil
	if res, err := Apply(ctx, dir, sd, opts); err != nil || reloadedBy(res) {
		t.Errorf("apply again: %v, calls %q", err, sd.calls)
	}

	// suspended: true stops what runs of the tenant.
	os.Remove(l.Stops())
	sd.active["ehecoatl-initech-site.service"] = true
	edit(t, filepath.Join(dir, "tenants/initech.yaml"), "tenant: initech\n", "tenant: initech\nsuspended: true\n")
	if _, err := Apply(ctx, dir, sd, opts); err != nil {
		t.Fatal(err)
	}
	if sd.active["ehecoatl-initech-site.service"] || sd.active["ehecoatl-initech-site.socket"] {
		t.Errorf("a suspended tenant still runs: %v", sd.active)
	}
}

// TestNoopFindsItsRecord: after an apply, what the same directory wants
// equals the record as loaded, so a no-op apply's record step keeps the
// record without encoding it (reflect.DeepEqual in Apply); a change does
// not.
func TestNoopFindsItsRecord(t *testing.T) {
	l := layout.Layout{Root: t.TempDir()}
	opts := Options{Layout: l, Generator: generator.Options{SourceDir: layout.EtcDir}}
	dir := copyDir(t, "../examples")
	if _, err := Apply(context.Background(), dir, newFake(l), opts); err != nil {
		t.Fatal(err)
	}
	same := func() bool {
		_, out, want, _, err := desiredHere(dir, opts, true, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hold(l, out, want); err != nil {
			t.Fatal(err)
		}
		have, recorded, err := current(l, opts.Generator)
		return err == nil && recorded && reflect.DeepEqual(have, want)
	}
	if !same() {
		t.Errorf("the state of an applied directory differs from its record")
	}
	edit(t, filepath.Join(dir, "tenants/acme.yaml"), "GREETING: 'Hello, 100% \"quoted\" $world'", "GREETING: changed")
	if same() {
		t.Errorf("a changed directory's state equals the record")
	}
}
