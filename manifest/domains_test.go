package manifest

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// tenantsFS writes one tenant per domain list, tenant i named t<i>, each
// with one app.
func tenantsFS(domains ...[]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for i, ds := range domains {
		name := fmt.Sprintf("t%d", i)
		doc := fmt.Sprintf("tenant: %s\napps:\n  web:\n    command: [/bin/app]\n    listen: activation\n    domains: [%q", name, ds[0])
		for _, d := range ds[1:] {
			doc += fmt.Sprintf(", %q", d)
		}
		fsys["tenants/"+name+".yaml"] = &fstest.MapFile{Data: []byte(doc + "]\n")}
	}
	return fsys
}

// TestDomainOwnership: a name and everything below it belong to one
// tenant; names of different tenants that do not nest coexist.
func TestDomainOwnership(t *testing.T) {
	cases := []struct {
		a, b string
		ok   bool
	}{
		{"shop.example.com", "shop.example.com", false},
		{"example.com", "x.y.example.com", false},
		{"example.com", "*.example.com", false},
		{"*.example.com", "x.y.example.com", false},
		{"*.example.com", "*.x.example.com", false},
		{"*.example.com", "*.example.com", false},
		{"*.shop.example.com", "x.shop.example.com", false},
		{"*.shop.example.com", "shop.example.com", false},
		{"a.example.com", "b.example.com", true},
		{"*.a.example.com", "b.example.com", true},
		{"*.a.example.com", "*.b.example.com", true},
		{"example.com", "notexample.com", true},
		{"ample.com", "example.com", true},
		{"acme.co.uk", "beta.co.uk", true},
		{"acme.github.io", "beta.github.io", true},
	}
	for _, c := range cases {
		for _, order := range [][2]string{{c.a, c.b}, {c.b, c.a}} {
			t.Run(order[0]+"+"+order[1], func(t *testing.T) {
				_, rep := LoadFS(tenantsFS([]string{order[0]}, []string{order[1]}), "mem")
				if rep.HasErrors() == c.ok {
					t.Errorf("two tenants with %s and %s: ok=%v, want %v:\n%s", order[0], order[1], !rep.HasErrors(), c.ok, rep)
				}
				if c.ok {
					return
				}
				// Reported in both files, each naming the other.
				for i, f := range []string{"tenants/t0.yaml", "tenants/t1.yaml"} {
					other := fmt.Sprintf("tenants/t%d.yaml:6:", 1-i)
					found := false
					for _, x := range rep.Findings {
						found = found || (x.File == f && x.Path == "apps.web.domains[0]" && strings.Contains(x.Message, other))
					}
					if !found {
						t.Errorf("no finding in %s naming %s:\n%s", f, other, rep)
					}
				}
			})
		}
		// Within one tenant every overlap is allowed: the exact name wins.
		if _, rep := LoadFS(tenantsFS([]string{c.a, c.b}), "mem"); c.a != c.b && rep.HasErrors() {
			t.Errorf("one tenant with %s and %s:\n%s", c.a, c.b, rep)
		}
	}
}

// TestDomainOverlapsBounded: thousands of tenants on one name stay fast
// and the report stays bounded per file.
func TestDomainOverlapsBounded(t *testing.T) {
	var all [][]string
	for range 3000 {
		all = append(all, []string{"shared.example.com", "*.example.com"})
	}
	start := time.Now()
	_, rep := LoadFS(tenantsFS(all...), "mem")
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("took %v", took)
	}
	if !rep.HasErrors() {
		t.Fatal("no errors")
	}
	if n := len(rep.Findings); n > len(all)*(maxFindingsPerFile+1) {
		t.Errorf("%d findings", n)
	}
}
