package plan

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func app(units map[string]string, sockets, services []string) *AppState {
	return &AppState{Units: units, Sockets: sockets, Services: services, Routes: "r"}
}

func state(apps map[string]*AppState) *State {
	return &State{
		Units:   map[string]string{"ehecoatl.slice": "s"},
		Tenants: map[string]*TenantState{"acme": {Manifest: "m", Units: map[string]string{"ehecoatl-acme.slice": "a"}, Apps: apps}},
		Routes:  "routes",
	}
}

var web = app(map[string]string{"ehecoatl-acme-web.socket": "1", "ehecoatl-acme-web.service": "2"},
	[]string{"ehecoatl-acme-web.socket"}, []string{"ehecoatl-acme-web.service"})

func TestDiff(t *testing.T) {
	changedSvc := app(map[string]string{"ehecoatl-acme-web.socket": "1", "ehecoatl-acme-web.service": "3"},
		[]string{"ehecoatl-acme-web.socket"}, []string{"ehecoatl-acme-web.service"})
	changedSock := app(map[string]string{"ehecoatl-acme-web.socket": "9", "ehecoatl-acme-web.service": "2"},
		[]string{"ehecoatl-acme-web.socket"}, []string{"ehecoatl-acme-web.service"})
	workers2 := app(map[string]string{"ehecoatl-acme-web@.socket": "1", "ehecoatl-acme-web@.service": "2"},
		[]string{"ehecoatl-acme-web@1.socket", "ehecoatl-acme-web@2.socket"}, []string{"ehecoatl-acme-web@1.service", "ehecoatl-acme-web@2.service"})
	workers3 := app(map[string]string{"ehecoatl-acme-web@.socket": "1", "ehecoatl-acme-web@.service": "2"},
		[]string{"ehecoatl-acme-web@1.socket", "ehecoatl-acme-web@2.socket", "ehecoatl-acme-web@3.socket"},
		[]string{"ehecoatl-acme-web@1.service", "ehecoatl-acme-web@2.service", "ehecoatl-acme-web@3.service"})
	for _, tc := range []struct {
		name           string
		old, new       *State
		start, restart []string
		stop           []string
		appsChanged    []string
		empty, reload  bool
	}{
		{name: "first apply", old: nil, new: state(map[string]*AppState{"web": web}),
			start: []string{"ehecoatl-acme-web.socket"}, reload: true},
		{name: "same state", old: state(map[string]*AppState{"web": web}), new: state(map[string]*AppState{"web": web}), empty: true},
		{name: "service changed", old: state(map[string]*AppState{"web": web}), new: state(map[string]*AppState{"web": changedSvc}),
			restart: []string{"ehecoatl-acme-web.service"}, appsChanged: []string{"acme/web"}, reload: true},
		{name: "socket changed restarts both", old: state(map[string]*AppState{"web": web}), new: state(map[string]*AppState{"web": changedSock}),
			restart: []string{"ehecoatl-acme-web.service", "ehecoatl-acme-web.socket"}, appsChanged: []string{"acme/web"}, reload: true},
		{name: "env changed restarts without a reload", old: state(map[string]*AppState{"web": web}), new: state(map[string]*AppState{"web": withEnv(web, "e2")}),
			restart: []string{"ehecoatl-acme-web.service"}, appsChanged: []string{"acme/web"}},
		{name: "app removed", old: state(map[string]*AppState{"web": web}), new: state(map[string]*AppState{}),
			stop: []string{"ehecoatl-acme-web.service", "ehecoatl-acme-web.socket"}, reload: true},
		{name: "app removed stops its second slot too", old: state(map[string]*AppState{"web": app(map[string]string{"ehecoatl-acme-web.socket": "1", "ehecoatl-acme-web.service": "2", "ehecoatl-acme-web-next.socket": "3", "ehecoatl-acme-web-next.service": "4"},
			[]string{"ehecoatl-acme-web.socket"}, []string{"ehecoatl-acme-web.service"})}), new: state(map[string]*AppState{}),
			stop: []string{"ehecoatl-acme-web-next.service", "ehecoatl-acme-web-next.socket", "ehecoatl-acme-web.service", "ehecoatl-acme-web.socket"}, reload: true},
		{name: "tenant removed stops its slice too", old: state(map[string]*AppState{"web": web}), new: &State{Units: map[string]string{"ehecoatl.slice": "s"}, Routes: "routes"},
			stop: []string{"ehecoatl-acme-web.service", "ehecoatl-acme-web.socket", "ehecoatl-acme.slice"}, reload: true},
		{name: "more workers start instances only", old: state(map[string]*AppState{"web": workers2}), new: state(map[string]*AppState{"web": workers3}),
			start: []string{"ehecoatl-acme-web@3.socket"}, appsChanged: []string{"acme/web"}},
		{name: "fewer workers stop instances", old: state(map[string]*AppState{"web": workers3}), new: state(map[string]*AppState{"web": workers2}),
			stop: []string{"ehecoatl-acme-web@3.service", "ehecoatl-acme-web@3.socket"}, appsChanged: []string{"acme/web"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Diff(tc.old, tc.new)
			if p.Empty() != tc.empty {
				t.Errorf("Empty() = %v, want %v: %+v", p.Empty(), tc.empty, p)
			}
			if p.UnitFilesChanged() != tc.reload {
				t.Errorf("UnitFilesChanged() = %v, want %v", p.UnitFilesChanged(), tc.reload)
			}
			for _, c := range []struct {
				what      string
				got, want []string
			}{{"start", p.Start, tc.start}, {"restart", p.Restart, tc.restart}, {"stop", p.Stop, tc.stop}, {"apps changed", p.AppsChanged, tc.appsChanged}} {
				if c.want == nil {
					c.want = []string{}
				}
				if !reflect.DeepEqual(c.got, c.want) {
					t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
				}
			}
		})
	}
}

func withEnv(a *AppState, env string) *AppState {
	c := *a
	c.Env = env
	return &c
}

// TestSaveRootOnly: the record holds hashes of env files; other users
// must not read it (it was 0600 through os.CreateTemp; now on purpose).
func TestSaveRootOnly(t *testing.T) {
	p := filepath.Join(t.TempDir(), "applied.json")
	if err := Save(p, &State{Tenants: map[string]*TenantState{}}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("record mode %v %v, want 0600", fi.Mode(), err)
	}
}

// The steps of an apply come in the order that makes a killed apply
// converge: install, reload, stop, reset-failed, listen, restart, reload
// the router, and the record last.
func TestApplySteps(t *testing.T) {
	old := &State{Tenants: map[string]*TenantState{"a": {Manifest: "1", Apps: map[string]*AppState{
		"w": {Units: map[string]string{"ehecoatl-a-w.service": "1"}, Sockets: []string{"ehecoatl-a-w.socket"}, Services: []string{"ehecoatl-a-w.service"}},
		"x": {Units: map[string]string{"ehecoatl-a-x.service": "1"}, Sockets: []string{"ehecoatl-a-x.socket"}, Services: []string{"ehecoatl-a-x.service"}},
	}}}}
	new := &State{Routes: "r", Tenants: map[string]*TenantState{"a": {Manifest: "2", Apps: map[string]*AppState{
		"w": {Units: map[string]string{"ehecoatl-a-w.service": "2"}, Sockets: []string{"ehecoatl-a-w.socket"}, Services: []string{"ehecoatl-a-w.service"}},
	}}}}
	var got []string
	for _, s := range Diff(old, new).Steps {
		got = append(got, fmt.Sprintf("%s %v %v", s.Op, s.Units, s.Always))
	}
	want := []string{
		"install [] false",
		"daemon-reload [] false",
		"stop [ehecoatl-a-x.service ehecoatl-a-x.socket] false",
		"reset-failed [ehecoatl-*] false",
		"listen [ehecoatl-a-w.socket] false",
		"try-restart [ehecoatl-a-w.service] false",
		"start-router [ehecoatl-router.socket] false",
		"reload-router [ehecoatl-router.service] true",
		"record [] false",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("steps:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Held apps are left out of listen, named in it, and stopped whenever
// anything of them runs; the manifest's suspension wins over a stop.
func TestApplyStepsHeld(t *testing.T) {
	app := func(n string) *AppState {
		return &AppState{Sockets: []string{"ehecoatl-" + n + ".socket"}, Services: []string{"ehecoatl-" + n + ".service"}}
	}
	st := &State{Tenants: map[string]*TenantState{
		"b": {Apps: map[string]*AppState{"w": app("b-w")}},
		"d": {Apps: map[string]*AppState{"w": app("d-w")}},
		"s": {Apps: map[string]*AppState{"w": app("s-w")}},
	}}
	st.Tenants["s"].Apps["w"].Held = Suspended
	st.Hold(func(tenant, _ string) bool { return tenant == "d" || tenant == "s" })
	var got []string
	for _, s := range Diff(st, st).Steps {
		if s.Op == Stop || s.Op == Listen {
			got = append(got, fmt.Sprintf("%s %v %v", s.Op, s.Units, s.Held))
		}
	}
	want := []string{
		"stop [ehecoatl-d-w.service ehecoatl-s-w.service ehecoatl-d-w.socket ehecoatl-s-w.socket] []",
		"listen [ehecoatl-b-w.socket] [d/w (stopped) s/w (suspended)]",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("steps:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var b strings.Builder
	Diff(st, st).Print(&b)
	if !strings.Contains(b.String(), "left stopped: d/w (stopped) s/w (suspended)") {
		t.Errorf("plan does not name the held apps:\n%s", b.String())
	}
}
