package manifest

// FuzzLoad feeds arbitrary bytes to the loader, once as a tenant file and
// once as a kit file, and checks that it never panics or hangs, that its
// report is well-formed and deterministic, and that every Set it accepts
// holds the invariants the generator relies on. Seeds: the committed
// corpus under testdata/fuzz/FuzzLoad plus every YAML file of testdata.
//
//	go test -run='^$' -fuzz=FuzzLoad -fuzztime=5m ./manifest/

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

const fuzzKit = `kit: shop
command: [/srv/shop/bin/shop, --mode, prod]
listen: activation
env: {SHOP_MODE: prod}
`

const fuzzTenant = `tenant: acme
apps:
  web:
    kit: shop
    domains: [acme.example.com]
`

func FuzzLoad(f *testing.F) {
	_ = filepath.WalkDir("testdata", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".yaml") {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
		return nil
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, fsys := range []fstest.MapFS{
			{"tenants/acme.yaml": {Data: data}, "kits/shop.yaml": {Data: []byte(fuzzKit)}},
			{"tenants/acme.yaml": {Data: []byte(fuzzTenant)}, "kits/shop.yaml": {Data: data}},
		} {
			start := time.Now()
			set, rep := LoadFS(fsys, "fuzz")
			if took := time.Since(start); took > 2*time.Second {
				t.Fatalf("load took %v for %d bytes", took, len(data))
			}
			checkReport(t, rep)
			if (set != nil) == rep.HasErrors() {
				t.Fatalf("set %v with errors=%v:\n%s", set != nil, rep.HasErrors(), rep)
			}
			if _, again := LoadFS(fsys, "fuzz"); again.String() != rep.String() {
				t.Fatalf("two loads differ:\n%s\n---\n%s", rep, again)
			}
			if set != nil {
				checkSet(t, set)
			}
		}
	})
}

// checkSet asserts what consumers of a Set may rely on without
// re-validating.
func checkSet(t testing.TB, s *Set) {
	t.Helper()
	clean := func(what, v string) {
		if strings.IndexFunc(v, isControl) >= 0 {
			t.Fatalf("%s %q contains a control character", what, v)
		}
	}
	if !slices.IsSortedFunc(s.Tenants, func(a, b *Tenant) int { return strings.Compare(a.Name, b.Name) }) {
		t.Fatal("tenants not sorted")
	}
	routes := map[[2]string]bool{}
	for _, tn := range s.Tenants {
		if ValidName(tn.Name) != nil || tn.File != "tenants/"+tn.Name+".yaml" {
			t.Fatalf("tenant %q file %q", tn.Name, tn.File)
		}
		if !slices.IsSortedFunc(tn.Apps, func(a, b *App) int { return strings.Compare(a.Name, b.Name) }) {
			t.Fatal("apps not sorted")
		}
		for _, a := range tn.Apps {
			if ValidName(a.Name) != nil || a.Tenant != tn.Name || (a.Kit != "" && ValidName(a.Kit) != nil) {
				t.Fatalf("app %+v", a)
			}
			if len(a.Command) == 0 || checkHostPath("command[0]", a.Command[0]) != nil {
				t.Fatalf("command %q", a.Command)
			}
			for _, w := range a.Command {
				clean("command word", w)
			}
			switch {
			case a.Listen == ListenActivation && a.Port == 0:
			case a.Listen == ListenPort && a.Port >= MinPort && a.Port <= 65535:
			default:
				t.Fatalf("listen %q port %d", a.Listen, a.Port)
			}
			for _, d := range a.Domains {
				if n, err := NormalizeDomain(d); err != nil || n != d {
					t.Fatalf("domain %q not normalised (%q, %v)", d, n, err)
				}
				routes[[2]string{d, a.Path}] = true
			}
			if p, pr := checkURLPath("path", a.Path, true); pr != nil || p != a.Path {
				t.Fatalf("path %q", a.Path)
			}
			if a.Health != "" {
				if _, pr := checkURLPath("health", a.Health, false); pr != nil {
					t.Fatalf("health %q", a.Health)
				}
			}
			for k, v := range a.Env {
				if checkEnvKey(k) != nil {
					t.Fatalf("env key %q", k)
				}
				clean("env value", v)
			}
			for _, x := range a.Secrets {
				if checkSecretName(x) != nil {
					t.Fatalf("secret %q", x)
				}
			}
			for _, x := range a.ReadOnly {
				if checkReadOnly(x) != nil {
					t.Fatalf("read_only %q", x)
				}
			}
			if a.Egress != nil && len(a.Egress) == 0 {
				t.Fatal("empty non-nil egress")
			}
			for _, p := range a.Egress {
				if !p.IsValid() || p.Masked() != p {
					t.Fatalf("egress %v", p)
				}
			}
			if a.Workers < 1 || a.Workers > MaxWorkers || (a.IdleTimeout != 0 && a.IdleTimeout < MinIdleTimeout) ||
				!slices.Contains(RestartValues, a.Restart) || a.Memory < 0 {
				t.Fatalf("app %+v", a)
			}
		}
	}
	if len(routes) != len(s.Routes) {
		t.Fatalf("%d routes for %d (domain, path) pairs", len(s.Routes), len(routes))
	}
	for i, r := range s.Routes {
		if i > 0 {
			p := s.Routes[i-1]
			if p.Domain > r.Domain || (p.Domain == r.Domain && p.Path >= r.Path) {
				t.Fatalf("routes not sorted or not unique: %v, %v", p, r)
			}
		}
		if path.Base(r.File) != r.Tenant+".yaml" {
			t.Fatalf("route %+v", r)
		}
	}
}
