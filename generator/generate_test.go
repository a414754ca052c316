package generator

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/naming"
	"github.com/ehecoatl/ehecoatl/rendered"
	"github.com/ehecoatl/ehecoatl/units"
)

func app(mod func(a *manifest.App)) *manifest.App {
	a := &manifest.App{
		Tenant: "acme", Name: "web", File: "tenants/acme.yaml",
		Command: []string{"/bin/true"}, Listen: manifest.ListenActivation,
		Domains: []string{"acme.example.test"}, Path: "/", Workers: 1,
		IdleTimeout: 15 * time.Minute, Restart: "on-failure",
	}
	if mod != nil {
		mod(a)
	}
	return a
}

func setOf(apps ...*manifest.App) *manifest.Set {
	t := &manifest.Tenant{Name: "acme", File: "tenants/acme.yaml", Apps: apps}
	return &manifest.Set{Dir: "/etc/ehecoatl", Tenants: []*manifest.Tenant{t}}
}

// TestAppUnits: the names package naming gives an app are the units
// Generate writes and the sockets its links start (naming's own tests say
// what the names are).
func TestAppUnits(t *testing.T) {
	for _, tc := range []struct {
		name string
		app  *manifest.App
	}{
		{"activation", app(nil)},
		{"port", app(func(a *manifest.App) { a.Listen, a.Port = manifest.ListenPort, 8080 })},
		{"workers", app(func(a *manifest.App) { a.Workers = 2 })},
		{"port workers", app(func(a *manifest.App) { a.Listen, a.Port, a.Workers = manifest.ListenPort, 8080, 2 })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.app.Names().Units("")
			out, err := Generate(setOf(tc.app), Options{})
			if err != nil {
				t.Fatal(err)
			}
			files := map[string]bool{}
			for _, f := range out.Files {
				files[f.Name] = true
			}
			for _, f := range got.Files {
				if !files[f] {
					t.Errorf("%s not generated", f)
				}
			}
			if len(files) != len(got.Files)+3 { // + root slice, root target, tenant slice
				t.Errorf("generated %d files, naming lists %d", len(files), len(got.Files))
			}
			var links []string
			for _, l := range out.Links {
				if l.Dir == naming.SocketsWants {
					links = append(links, l.Name)
				}
			}
			if !reflect.DeepEqual(links, got.Sockets) {
				t.Errorf("links %v, sockets %v", links, got.Sockets)
			}
		})
	}
	// RunDir reaches the socket units as it reaches the router's paths.
	out, err := Generate(setOf(app(nil)), Options{RunDir: "/run/x"})
	if err != nil {
		t.Fatal(err)
	}
	want := app(nil).Names().Units("/run/x").SocketPaths[0]
	if !strings.Contains(string(fileData(out, "ehecoatl-acme-web.socket")), "ListenStream="+want+"\n") {
		t.Errorf("RunDir ignored: want ListenStream=%s", want)
	}
}

func fileData(out *Output, name string) []byte {
	for _, f := range out.Files {
		if f.Name == name {
			return f.Data
		}
	}
	return nil
}

func TestGenerateErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		app  *manifest.App
		opts Options
		want string
	}{
		{"relative command", app(func(a *manifest.App) { a.Command = []string{"true"} }), Options{}, "argv[0] must be an absolute path"},
		{"no command", app(func(a *manifest.App) { a.Command = nil }), Options{}, "argv[0] must be an absolute path"},
		{"bad listen", app(func(a *manifest.App) { a.Listen = "udp" }), Options{}, `listen "udp"`},
		{"bad port", app(func(a *manifest.App) { a.Listen = manifest.ListenPort }), Options{}, "port 0"},
		{"no workers", app(func(a *manifest.App) { a.Workers = 0 }), Options{}, "workers 0"},
		{"port on host network", app(func(a *manifest.App) {
			a.Listen, a.Port = manifest.ListenPort, 8080
			a.Egress = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		}), Options{}, "host's loopback"},
		{"connect on host network", app(func(a *manifest.App) {
			a.Connect = []string{"/run/postgresql/.s.PGSQL.5432"}
			a.Egress = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		}), Options{}, "abstract socket"},
		{"colon in read_only", app(func(a *manifest.App) { a.ReadOnly = []string{"/srv/a:b"} }), Options{}, `read_only/connect "/srv/a:b"`},
		{"colon in connect", app(func(a *manifest.App) { a.Connect = []string{"/run/a:b"} }), Options{}, `read_only/connect "/run/a:b"`},
		{"space in read_only", app(func(a *manifest.App) { a.ReadOnly = []string{"/srv/a b"} }), Options{}, "BindReadOnlyPaths"},
		{"newline in env", app(func(a *manifest.App) { a.Env = map[string]string{"A": "x\ny"} }), Options{}, "environment file"},
		{"newline in argv", app(func(a *manifest.App) { a.Command = []string{"/bin/echo", "a\nb"} }), Options{}, "argument 1: line break"},
		{"env key of the arguments", app(func(a *manifest.App) { a.Env = map[string]string{"EHECOATL_ARGS": "-x"} }), Options{}, "env EHECOATL_ARGS: the name is the command's"},
		{"env key of the launcher", app(func(a *manifest.App) { a.Env = map[string]string{"EHECOATL_ARGV_0": "/bin/sh"} }), Options{}, "env EHECOATL_ARGV_0: the name is the command's"},
		{"bad secret", app(func(a *manifest.App) { a.Secrets = []string{"../x"} }), Options{}, `secrets "../x"`},
		{"relative run dir", app(nil), Options{RunDir: "run"}, "option RunDir"},
		{"percent in run dir", app(nil), Options{RunDir: "/run/%i"}, "option RunDir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Generate(setOf(tc.app), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "generator: ") {
				t.Errorf("error %q does not name the package", err)
			}
			// A validated set always renders: what does not is a bug in
			// validation, not the author's mistake. Options are the caller's.
			var inv *InvariantError
			if isOption := strings.Contains(tc.want, "option "); errors.As(err, &inv) == isOption {
				t.Errorf("error %q: InvariantError=%v, want %v", err, !isOption, !isOption)
			}
			// One prefix per layer: the unit is named once.
			if n := strings.Count(err.Error(), "ehecoatl-acme-web.service"); n > 1 {
				t.Errorf("error %q names the unit %d times", err, n)
			}
		})
	}
}

// TestRenderTenant: rendering tenant by tenant gives the same units as
// Generate (the systemd generator relies on it to skip one tenant).
func TestRenderTenant(t *testing.T) {
	c := goldenCase{name: "examples", dir: "testdata/examples", manifest: "../examples"}
	set := c.load(t)
	all := c.generate(t)
	joined, err := RootFiles(goldenOptions)
	if err != nil {
		t.Fatal(err)
	}
	for _, tn := range set.Tenants {
		o, err := RenderTenant(tn, goldenOptions)
		if err != nil {
			t.Fatal(err)
		}
		joined.Merge(o)
	}
	if !reflect.DeepEqual(joined, all) {
		t.Errorf("per-tenant rendering differs from Generate")
	}
}

func TestTenantSlice(t *testing.T) {
	set := &manifest.Set{Tenants: []*manifest.Tenant{{Name: "acme", File: "tenants/acme.yaml",
		Limits: manifest.Limits{CPUQuotaPercent: 150, MemoryMax: 1000000007, Tasks: 10, IOWeight: 5}}}}
	out, err := Generate(set, Options{SourceDir: "/m"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := units.Parse(out.Files[0].Name, out.Files[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"CPUQuota":   "150%", // no specifier escaping: CPUQuota= resolves none
		"MemoryMax":  "1000000007",
		"MemoryHigh": "900000006", // floor(0.9 * MemoryMax)
		"TasksMax":   "10",
		"IOWeight":   "5",
	} {
		if got := u.Lookup("Slice", key); len(got) != 1 || got[0] != want {
			t.Errorf("%s=%q, want %q", key, got, want)
		}
	}
	if got := u.Lookup("Unit", "SourcePath"); len(got) != 1 || got[0] != "/m/tenants/acme.yaml" {
		t.Errorf("SourcePath=%q", got)
	}
	// The default SourceDir is the set's directory made absolute.
	set.Dir = "rel/dir"
	out, err = Generate(set, Options{})
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("rel/dir")
	if !strings.Contains(string(out.Files[0].Data), "SourcePath="+abs+"/tenants/acme.yaml\n") {
		t.Errorf("SourcePath not under %s:\n%s", abs, out.Files[0].Data)
	}
}

func TestWriteDir(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "other.service")
	if err := os.WriteFile(other, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := &Output{
		Files: []File{{Name: "a.socket", Data: []byte("[Socket]\n")}},
		Links: []Link{{Dir: naming.SocketsWants, Name: "a.socket", Target: "../a.socket"}},
	}
	for i := 0; i < 2; i++ { // idempotent
		if err := WriteDir(o, dir); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := os.ReadFile(other); err != nil || string(b) != "keep" {
		t.Errorf("other file touched: %q %v", b, err)
	}
	if tgt, err := os.Readlink(filepath.Join(dir, naming.SocketsWants, "a.socket")); err != nil || tgt != "../a.socket" {
		t.Errorf("link: %q %v", tgt, err)
	}
	// A changed target is re-pointed.
	o.Links[0].Target = "../b.socket"
	if err := WriteDir(o, dir); err != nil {
		t.Fatal(err)
	}
	if tgt, _ := os.Readlink(filepath.Join(dir, naming.SocketsWants, "a.socket")); tgt != "../b.socket" {
		t.Errorf("link not re-pointed: %q", tgt)
	}
	// Names that would leave the directory are refused.
	for _, bad := range []*Output{
		{Files: []File{{Name: "../x.service"}}},
		{Links: []Link{{Dir: "..", Name: "x", Target: "y"}}},
		{Links: []Link{{Dir: "a/b", Name: "x", Target: "y"}}},
	} {
		if err := WriteDir(bad, dir); err == nil {
			t.Errorf("WriteDir(%+v): no error", bad)
		}
	}
}

// TestProtectHome: only a read_only path under a home directory needs
// ProtectHome=tmpfs; otherwise the option is not set.
func TestProtectHome(t *testing.T) {
	for in, want := range map[string]bool{
		"/srv/x": false, "/home": true, "/home/a/b": true, "/homes/x": false,
		"/root/x": true, "/run/user/1000/x": true, "/run/users": false,
	} {
		if got := protectHome([]string{in}); got != want {
			t.Errorf("protectHome(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestOutputOwners: the rendering says whose each unit is, as naming.Owner
// reads it back from the name, and carries every app's unit names and env
// file, so that plan and apply need not derive them again.
func TestOutputOwners(t *testing.T) {
	set, rep := manifest.Load("../examples")
	if rep.HasErrors() {
		t.Fatal(rep.String())
	}
	out, err := Generate(set, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range out.Files {
		if tn, an, _ := naming.Owner(f.Name); f.Tenant != tn || f.App != an {
			t.Errorf("%s: owner %q/%q, its name says %q/%q", f.Name, f.Tenant, f.App, tn, an)
		}
	}
	var apps []string
	env := map[string]bool{}
	for _, tn := range set.Tenants {
		for _, a := range tn.Apps {
			apps = append(apps, a.Tenant+"/"+a.Name)
			i := slices.IndexFunc(out.Apps, func(r rendered.App) bool { return r.Tenant == a.Tenant && r.Name == a.Name })
			if i < 0 {
				t.Errorf("app %s/%s: not in the output", a.Tenant, a.Name)
			} else if got, want := out.Apps[i].Units, a.Names().Units(""); !reflect.DeepEqual(got, want) {
				t.Errorf("app %s/%s: units %+v, want %+v", a.Tenant, a.Name, got, want)
			}
			// Every app has one: it carries the command (package appexec).
			env[naming.EnvFileRel(a.Tenant, a.Name)] = true
			if len(out.Env[naming.EnvFileRel(a.Tenant, a.Name)]) == 0 {
				t.Errorf("app %s/%s: no env file in the output", a.Tenant, a.Name)
			}
		}
	}
	if len(out.Apps) != len(apps) || len(out.Env) != len(env) || len(env) == 0 {
		t.Errorf("output has %d apps and %d env files, the set %d apps", len(out.Apps), len(out.Env), len(apps))
	}
}

// TestGenerateInParallel: many tenants render on every CPU into the same
// bytes, in the same order, as on one; and the error is the first
// failing tenant's in the set's order, whichever goroutine met it.
func TestGenerateInParallel(t *testing.T) {
	fsys := fstest.MapFS{}
	for i := 0; i < 3*parallelMin; i++ {
		fsys[fmt.Sprintf("tenants/t%04d.yaml", i)] = &fstest.MapFile{Data: []byte(tenantYAML(i)), Mode: 0o644}
	}
	set, rep := manifest.LoadFS(fsys, "/etc/ehecoatl")
	if rep.HasErrors() {
		t.Fatal(rep)
	}
	render := func(procs int) *Output {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		out, err := Generate(set, goldenOptions)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	one, many := render(1), render(8)
	if !reflect.DeepEqual(one, many) || one.Digest() != many.Digest() || len(one.Files) < 3*parallelMin {
		t.Fatalf("on 8 CPUs the output differs from the one on 1 (%d and %d files)", len(one.Files), len(many.Files))
	}
	// Two tenants that cannot be rendered: the earlier one is reported.
	set.Tenants[7].Apps[0].Command = []string{"relative"}
	set.Tenants[150].Apps[0].Command = []string{"relative"}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8))
	for i := 0; i < 20; i++ {
		_, err := Generate(set, goldenOptions)
		var inv *InvariantError
		if !errors.As(err, &inv) || inv.File != set.Tenants[7].File {
			t.Fatalf("error %v, want the one of %s", err, set.Tenants[7].File)
		}
	}
}
