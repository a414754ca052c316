package plan

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/naming"
	"github.com/ehecoatl/ehecoatl/rendered"
)

// TestRenderFromOutput: the state comes from the rendering as it is, the
// owners it names and the env files it holds, not from unit names parsed
// back or env rendered again (here the output's owner disagrees with what
// the name would say, and the app has no env in the set).
func TestRenderFromOutput(t *testing.T) {
	set := &manifest.Set{Tenants: []*manifest.Tenant{{Name: "acme", File: "tenants/acme.yaml", Source: []byte("tenant: acme\n")}}}
	units := naming.App{Tenant: "acme", Name: "web", Workers: 1}.Units("")
	out := &rendered.Output{
		Files: []rendered.File{
			{Name: "ehecoatl.slice", Data: []byte("root")},
			{Name: "ehecoatl-acme.slice", Data: []byte("tenant"), Tenant: "acme"},
			{Name: "odd-name.service", Data: []byte("svc"), Tenant: "acme", App: "web"},
		},
		Apps: []rendered.App{{Tenant: "acme", Name: "web", Units: units}},
		Env:  map[string][]byte{naming.EnvFileRel("acme", "web"): []byte("A=1\n")},
	}
	st, err := Render(set, out)
	if err != nil {
		t.Fatal(err)
	}
	ts := st.Tenants["acme"]
	if ts == nil || ts.Manifest != hash(set.Tenants[0].Source) || ts.Units["ehecoatl-acme.slice"] != hash([]byte("tenant")) {
		t.Fatalf("tenant state %+v", ts)
	}
	as := ts.Apps["web"]
	if as == nil || as.Units["odd-name.service"] != hash([]byte("svc")) || as.Env != hash([]byte("A=1\n")) ||
		!reflect.DeepEqual(as.Sockets, units.Sockets) || !reflect.DeepEqual(as.Services, units.Services) {
		t.Fatalf("app state %+v", as)
	}
	if st.Units["ehecoatl.slice"] != hash([]byte("root")) {
		t.Errorf("root units %v", st.Units)
	}
	out.Apps = append(out.Apps, rendered.App{Tenant: "other", Name: "x"})
	if _, err := Render(set, out); err == nil {
		t.Error("an app of no tenant of the set was accepted")
	}
}

// A change of how the router serves an app's domains (tls:, hsts:) changes
// the routes, so apply reloads the router; the defaults hash as before.
func TestRoutesCoverHTTPS(t *testing.T) {
	routes := func(tls manifest.TLS, hsts bool) string {
		app := &manifest.App{Tenant: "acme", Name: "web", TLS: tls, HSTS: hsts}
		set := &manifest.Set{
			Tenants: []*manifest.Tenant{{Name: "acme", File: "tenants/acme.yaml", Source: []byte("tenant: acme\n"), Apps: []*manifest.App{app}}},
			Routes:  []manifest.Route{{Domain: "acme.example.com", Path: "/", Tenant: "acme", App: "web"}},
		}
		st, err := Render(set, &rendered.Output{Apps: []rendered.App{{Tenant: "acme", Name: "web"}}})
		if err != nil {
			t.Fatal(err)
		}
		return st.Routes
	}
	auto := routes(manifest.TLS{Mode: manifest.TLSAuto}, false)
	if auto != hash([]byte("acme.example.com / acme web")) {
		t.Errorf("the default tls: changed the routes' hash")
	}
	seen := map[string]bool{auto: true}
	for _, c := range []struct {
		tls  manifest.TLS
		hsts bool
	}{
		{manifest.TLS{Mode: manifest.TLSOff}, false},
		{manifest.TLS{Mode: manifest.TLSFiles, CertFile: "a.pem", KeyFile: "a.key"}, false},
		{manifest.TLS{Mode: manifest.TLSFiles, CertFile: "b.pem", KeyFile: "a.key"}, false},
		{manifest.TLS{Mode: manifest.TLSAuto}, true},
	} {
		r := routes(c.tls, c.hsts)
		if seen[r] {
			t.Errorf("%+v hsts=%v: same routes hash as another setting", c.tls, c.hsts)
		}
		seen[r] = true
	}
}

// TestSaveKeepsAnEqualRecord: saving the record a no-op apply leaves as
// it was writes nothing (the same file, not a new one renamed over it);
// a changed one, or one of another mode, is written.
func TestSaveKeepsAnEqualRecord(t *testing.T) {
	p := filepath.Join(t.TempDir(), "applied.json")
	st := &State{Tenants: map[string]*TenantState{"acme": {Manifest: "m1"}}}
	if err := Save(p, st); err != nil {
		t.Fatal(err)
	}
	a, _ := os.Stat(p)
	if err := Save(p, st); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.Stat(p); !os.SameFile(a, b) {
		t.Errorf("an equal record was written again")
	}
	os.Chmod(p, 0o644)
	if err := Save(p, st); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.Stat(p); os.SameFile(a, b) || b.Mode().Perm() != 0o600 {
		t.Errorf("a record of mode 0644 was kept: %v", b.Mode())
	}
	a, _ = os.Stat(p)
	st.Tenants["acme"].Manifest = "m2"
	if err := Save(p, st); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.Stat(p); os.SameFile(a, b) {
		t.Errorf("a changed record was not written")
	}
	if got, err := Load(p); err != nil || got.Tenants["acme"].Manifest != "m2" {
		t.Errorf("Load: %+v %v", got, err)
	}
}
