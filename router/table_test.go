package router

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/ehecoatl/ehecoatl/manifest"
)

func lookupSet() *manifest.Set {
	return mkSet(
		app("acme", "web", "/", "acme.example.com", "www.acme.example.com"),
		app("acme", "api", "/api", "acme.example.com"),
		app("acme", "v2", "/api/v2", "acme.example.com"),
		app("acme", "slash", "/static/", "acme.example.com"),
		app("acme", "shops", "/", "*.shops.acme.example.com"),
		app("beta", "web", "/", "*.example.com"),
		app("beta", "deep", "/", "*.deep.shops.acme.example.com"),
		app("gamma", "only", "/only", "gamma.example.org"),
	)
}

func TestLookup(t *testing.T) {
	tbl, err := NewTable(lookupSet(), "/run/ehecoatl")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host, path string
		want       string // "tenant/app", "" for no route
	}{
		{"acme.example.com", "/", "acme/web"},
		{"acme.example.com", "/index.html", "acme/web"},
		{"www.acme.example.com", "/x", "acme/web"},
		// case, port and trailing dot
		{"ACME.Example.COM", "/", "acme/web"},
		{"acme.example.com:8080", "/", "acme/web"},
		{"acme.example.com.", "/", "acme/web"},
		{"Acme.Example.Com.:443", "/api", "acme/api"},
		// longest path prefix on segment boundaries
		{"acme.example.com", "/api", "acme/api"},
		{"acme.example.com", "/api/", "acme/api"},
		{"acme.example.com", "/api/users", "acme/api"},
		{"acme.example.com", "/apix", "acme/web"},
		{"acme.example.com", "/api/v2", "acme/v2"},
		{"acme.example.com", "/api/v2/x", "acme/v2"},
		{"acme.example.com", "/api/v20", "acme/api"},
		{"acme.example.com", "/static/a.css", "acme/slash"},
		{"acme.example.com", "/static", "acme/web"},
		// exact before wildcard, most specific wildcard first
		{"a.shops.acme.example.com", "/", "acme/shops"},
		{"a.b.shops.acme.example.com", "/", "acme/shops"},
		{"x.deep.shops.acme.example.com", "/", "beta/deep"},
		{"shops.acme.example.com", "/", "beta/web"}, // "*.x" does not match x itself
		{"other.example.com", "/", "beta/web"},
		{"example.com", "/", ""},
		// exact host without a matching path: 404, no fall-through to
		// a wildcard of another tenant
		{"gamma.example.org", "/only/x", "gamma/only"},
		{"gamma.example.org", "/", ""},
		// unknown
		{"unknown.test", "/", ""},
		{"", "/", ""},
		{"[::1]:80", "/", ""},
		{"127.0.0.1:80", "/", ""},
	}
	for _, tt := range tests {
		t.Run(tt.host+tt.path, func(t *testing.T) {
			tn, an, ok := tbl.Lookup(tt.host, tt.path)
			got := ""
			if ok {
				got = tn + "/" + an
			}
			if got != tt.want {
				t.Fatalf("Lookup(%q, %q) = %q, want %q", tt.host, tt.path, got, tt.want)
			}
		})
	}
}

func TestNormalizeHost(t *testing.T) {
	for in, want := range map[string]string{
		"a.b":         "a.b",
		"A.B":         "a.b",
		"a.b:80":      "a.b",
		"a.b.":        "a.b",
		"a.b.:8080":   "a.b",
		"[::1]:8080":  "::1",
		"[::1]":       "::1",
		"":            "",
		"::1":         "::1",
		"XN--A.b.:1":  "xn--a.b",
		"localhost:0": "localhost",
	} {
		if got := normalizeHost(in); got != want {
			t.Errorf("normalizeHost(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestAppSocketsAndUnits: the table forwards to the sockets the generator
// names, one per worker, and would stop the matching services.
func TestAppSocketsAndUnits(t *testing.T) {
	workers := app("acme", "api", "/api", "a.test")
	workers.Workers = 3
	tbl, err := NewTable(mkSet(workers), "/run/ehecoatl")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tbl.Routes()[0].Sockets, " "); got != "/run/ehecoatl/acme/api@1.sock /run/ehecoatl/acme/api@2.sock /run/ehecoatl/acme/api@3.sock" {
		t.Fatal(got)
	}
	if got := strings.Join(tbl.apps[0].units, " "); got != "ehecoatl-acme-api@1.service ehecoatl-acme-api@2.service ehecoatl-acme-api@3.service" {
		t.Fatal(got)
	}
	tbl, err = NewTable(mkSet(app("acme", "web", "/", "a.test", "*.b.test")), "/run/ehecoatl")
	if err != nil {
		t.Fatal(err)
	}
	r := tbl.Routes()
	if len(r) != 2 || r[0].Domain != "*.b.test" || r[1].Domain != "a.test" || r[1].Sockets[0] != "/run/ehecoatl/acme/web.sock" {
		t.Fatalf("routes: %+v", r)
	}
}

func TestTableRejectsUnknownApp(t *testing.T) {
	set := mkSet(app("acme", "web", "/", "a.test"))
	set.Routes = append(set.Routes, manifest.Route{Domain: "b.test", Path: "/", Tenant: "acme", App: "nope", File: "tenants/acme.yaml"})
	if _, err := NewTable(set, "/run"); err == nil || !strings.Contains(err.Error(), "acme/nope") {
		t.Fatalf("err = %v", err)
	}
}

// bigSet has n routes: n/4 tenants with 2 apps, exact and wildcard domains,
// some with two paths.
func bigSet(n int) *manifest.Set {
	var apps []*manifest.App
	for i := 0; len(apps)*2 < n; i++ {
		tn := fmt.Sprintf("t%d", i)
		apps = append(apps,
			app(tn, "web", "/", tn+".example.com", "www."+tn+".example.com"),
			app(tn, "api", "/api", tn+".example.com", "*."+tn+".example.net"))
	}
	return mkSet(apps...)
}

func BenchmarkLookup10k(b *testing.B) {
	tbl, err := NewTable(bigSet(10000), "/run/ehecoatl")
	if err != nil {
		b.Fatal(err)
	}
	if len(tbl.Routes()) < 10000 {
		b.Fatalf("%d routes", len(tbl.Routes()))
	}
	hosts := []struct{ host, path string }{
		{"t1234.example.com", "/api/users"},
		{"WWW.t42.example.com:8080", "/"},
		{"a.b.t999.example.net", "/x"},
		{"unknown.test", "/"},
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h := hosts[i%len(hosts)]
		tbl.lookup(normalizeHost(h.host), h.path)
	}
}

// TestHeap10k loads 10,000 routes into a router and reports the heap; the
// router's RSS target is 50 MB.
func TestHeap10k(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f := newFixture(t, Config{AccessLog: discardLog{}}, bigSet(10000))
	runtime.GC()
	runtime.ReadMemStats(&after)
	n := len(f.rt.Table().Routes())
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d routes: heap +%.1f MB (HeapAlloc %.1f MB, Sys %.1f MB)", n, float64(heap)/(1<<20), float64(after.HeapAlloc)/(1<<20), float64(after.Sys)/(1<<20))
	if n < 10000 {
		t.Fatalf("%d routes", n)
	}
	if heap > 30<<20 {
		t.Fatalf("10,000 routes take %.1f MB of heap, too much for a 50 MB router", float64(heap)/(1<<20))
	}
	// lookups on the big table are allocation free
	tbl := f.rt.Table()
	if a := testing.AllocsPerRun(1000, func() { tbl.lookup(normalizeHost("t77.example.com"), "/api/x") }); a != 0 {
		t.Fatalf("lookup allocates %.1f times", a)
	}
}
