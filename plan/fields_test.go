package plan

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/rendered"
)

// described renders one app a of tenant acme into a State, as Render does
// for a set, with the given secret contents.
func described(t *testing.T, a manifest.App, secrets map[string]string) *State {
	t.Helper()
	a.Tenant, a.Name = "acme", "web"
	if a.Workers == 0 {
		a.Workers = 1
	}
	if a.IdleTimeout == 0 {
		a.IdleTimeout = 15 * time.Minute
	}
	set := &manifest.Set{Tenants: []*manifest.Tenant{{Name: "acme", File: "tenants/acme.yaml", Source: []byte("tenant: acme\n"), Apps: []*manifest.App{&a}}}}
	units := a.Names().Units("")
	st, err := Render(set, &rendered.Output{Apps: []rendered.App{{Tenant: "acme", Name: "web", Units: units}}})
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range secrets {
		st.SetSecret("acme", "web", name, []byte(v))
	}
	return st
}

// TestAppChanges: a plan names the fields that changed per app, in the
// order of docs/OPERATIONS.md ("Reading a plan"), never a value.
func TestAppChanges(t *testing.T) {
	base := manifest.App{Command: []string{"/bin/app"}, Listen: manifest.ListenActivation, Domains: []string{"acme.example.com"},
		Env: map[string]string{"SHOP_MODE": "live-1", "OTHER": "x"}, Secrets: []string{"db_password"}}
	with := func(f func(*manifest.App)) manifest.App {
		a := base
		a.Env = map[string]string{"SHOP_MODE": "live-1", "OTHER": "x"}
		f(&a)
		return a
	}
	pw := map[string]string{"db_password": "first-pw"}
	for _, tc := range []struct {
		name    string
		new     manifest.App
		secrets map[string]string
		want    []string
		// restart: these states render no units or env files, so only a
		// rotation restarts here; unit and env changes are TestDiff's.
		restart bool
	}{
		{"nothing", base, pw, nil, false},
		{"the issue's example", with(func(a *manifest.App) {
			a.Command = []string{"/bin/app", "--x"}
			a.Env["SHOP_MODE"] = "live-2"
			a.Domains = []string{"acme.example.com", "www.acme.example.com"}
		}), pw, []string{"command", "env.SHOP_MODE", "domains +www.acme.example.com"}, false},
		{"env key added and removed", with(func(a *manifest.App) { a.Env = map[string]string{"SHOP_MODE": "live-1", "NEW": "y"} }), pw,
			[]string{"env.NEW", "env.OTHER"}, false},
		{"a secret rotated", base, map[string]string{"db_password": "second-pw"}, []string{"secret db_password rotated"}, true},
		{"a secret not readable now proves nothing", base, nil, nil, false},
		{"a secret added", with(func(a *manifest.App) { a.Secrets = []string{"db_password", "api_key"} }), pw, []string{"secrets +api_key"}, false},
		{"domain removed, path and workers", with(func(a *manifest.App) { a.Domains = nil; a.Path = "/shop"; a.Workers = 2 }), pw,
			[]string{"workers", "domains -acme.example.com", "path"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Diff(described(t, base, pw), described(t, tc.new, tc.secrets))
			if got := p.AppChanges["acme/web"]; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("app changes %q, want %q", got, tc.want)
			}
			if got := len(p.Restart) > 0; got != tc.restart {
				t.Errorf("restart %q, want a restart: %v", p.Restart, tc.restart)
			}
			var b bytes.Buffer
			p.Print(&b)
			if strings.Contains(b.String(), "live-") || strings.Contains(b.String(), "-pw") {
				t.Errorf("the plan prints a value:\n%s", &b)
			}
			if tc.want != nil && !strings.Contains(b.String(), "~ app acme/web: "+strings.Join(tc.want, ", ")+"\n") {
				t.Errorf("the plan does not name the changes:\n%s", &b)
			}
		})
	}
	// A record of an older apply has no fields: nothing is named.
	old := described(t, base, pw)
	old.Tenants["acme"].Apps["web"].Fields = nil
	if got := Diff(old, described(t, with(func(a *manifest.App) { a.Command = []string{"/bin/b"} }), pw)).AppChanges; len(got) != 0 {
		t.Errorf("changes against an older record: %q", got)
	}
}

// TestStateNotes: a plan says what happens to an app's state directory.
func TestStateNotes(t *testing.T) {
	stateful := manifest.App{Command: []string{"/bin/app"}, Listen: manifest.ListenActivation, State: true}
	workers := stateful
	workers.Workers = 2
	plain := stateful
	plain.State = false
	const dir = "/var/lib/private/ehecoatl-acme-web"
	for _, tc := range []struct {
		name     string
		old, new *State
		want     string
	}{
		{"workers 1 -> 2 keep the directory", described(t, stateful, nil), described(t, workers, nil), "kept in " + dir + ", shared by its 2 workers"},
		{"workers 2 -> 1 keep it", described(t, workers, nil), described(t, stateful, nil), "kept in " + dir},
		{"state dropped", described(t, stateful, nil), described(t, plain, nil), dir + " is kept but no longer mounted ('ehecoatl purge acme' deletes it)"},
		{"app removed", described(t, stateful, nil), &State{Tenants: map[string]*TenantState{"acme": {Apps: map[string]*AppState{}}}}, "kept in " + dir + " ('ehecoatl purge acme' deletes it)"},
		{"app added", nil, described(t, stateful, nil), "in " + dir},
		{"no state", described(t, plain, nil), described(t, func() manifest.App { a := plain; a.Workers = 2; return a }(), nil), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Diff(tc.old, tc.new).State["acme/web"]; got != tc.want {
				t.Errorf("state note %q, want %q", got, tc.want)
			}
		})
	}
}

// TestPruneNeeded: removing every installed tenant, or more than half of
// them, is what applying the wrong directory looks like.
func TestPruneNeeded(t *testing.T) {
	tenants := func(names ...string) *State {
		st := &State{Tenants: map[string]*TenantState{}}
		for _, n := range names {
			st.Tenants[n] = &TenantState{Manifest: n, Apps: map[string]*AppState{}}
		}
		return st
	}
	for _, tc := range []struct {
		old, new *State
		want     bool
	}{
		{nil, tenants("a"), false},
		{tenants("a"), tenants(), true},
		{tenants("a", "b"), tenants("a"), false},
		{tenants("a", "b", "c"), tenants("a"), true},
		{tenants("a", "b", "c"), tenants("a", "b", "x", "y"), false},
		{tenants("a", "b", "c", "d"), tenants("a", "b"), false},
	} {
		if got := Diff(tc.old, tc.new).PruneNeeded; got != tc.want {
			t.Errorf("%v -> %v: PruneNeeded %v, want %v", tc.old, tc.new, got, tc.want)
		}
	}
}
