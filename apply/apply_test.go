package apply

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ehecoatl/ehecoatl/bootgen"
	"github.com/ehecoatl/ehecoatl/generator"
	"github.com/ehecoatl/ehecoatl/layout"
	"github.com/ehecoatl/ehecoatl/naming"
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

func (f *fakeSystemd) ActiveUnits(context.Context, ...string) (map[string]bool, error) {
	if f.down {
		return nil, errors.New("no systemd")
	}
	m := map[string]bool{}
	for k, v := range f.active {
		m[k] = v
	}
	return m, nil
}

func (f *fakeSystemd) FailedUnits(context.Context, ...string) ([]string, error) {
	var out []string
	for k := range f.failed {
		out = append(out, k)
	}
	return out, nil
}

func (f *fakeSystemd) ResetFailed(_ context.Context, u []string) error {
	for _, n := range u {
		delete(f.failed, n)
	}
	return f.call("reset-failed " + strings.Join(u, " "))
}

func (f *fakeSystemd) ReloadIfActive(_ context.Context, unit string) (bool, error) {
	return false, nil
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
	opts := Options{Layout: l, Generator: generator.Options{SourceDir: layout.EtcDir}, Out: io.Discard}
	dir := copyDir(t, "../examples")
	sd := newFake(l)

	// First apply: install, one reload, one start of ehecoatl.target.
	res, err := Apply(ctx, dir, sd, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Installed || !res.Reloaded || len(res.Started) != 6 {
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

	// An env change: a restart, no reload.
	sd.calls = nil
	edit(t, filepath.Join(dir, "tenants/acme.yaml"), "GREETING: 'Hello, 100% \"quoted\" $world'", "GREETING: changed")
	if res, err = Apply(ctx, dir, sd, opts); err != nil || res.Reloaded {
		t.Fatalf("env change: %+v %v", res, err)
	}
	if want := []string{"try-restart ehecoatl-acme-web.service"}; !reflect.DeepEqual(sd.calls, want) {
		t.Errorf("env change calls %q, want %q", sd.calls, want)
	}

	// A removed tenant: reload, stop its units; a failed unit is reset.
	sd.calls = nil
	sd.failed["ehecoatl-initech-site.service"] = true
	os.Remove(filepath.Join(dir, "tenants/initech.yaml"))
	if res, err = Apply(ctx, dir, sd, opts); err != nil || !res.Reloaded {
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

func edit(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), old) {
		t.Fatalf("%s lacks %q (%v)", path, old, err)
	}
	os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644)
}
