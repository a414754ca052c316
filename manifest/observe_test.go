package manifest

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The reads a Load notes, made again, give the same results while nothing the
// load read changed, and another sum when anything did: a manifest's
// bytes (at the same size), a file added beside the manifests, the target
// of a read_only link, also of one in a kit no tenant uses.
func TestSameSeesWhatLoadRead(t *testing.T) {
	links := map[string]string{"/srv/data": "/srv/v1"}
	fakeHost(t, links, map[string]fs.FileMode{"/srv/v1": fs.ModeDir, "/srv/v2": fs.ModeDir, "/srv/kit": fs.ModeDir})
	dir := t.TempDir()
	write := func(rel, s string) {
		t.Helper()
		os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, rel), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("tenants/acme.yaml", "tenant: acme\napps:\n  web:\n    command: [/bin/true]\n    listen: activation\n    domains: [acme.test]\n    read_only: [/srv/data]\n")
	write("kits/unused.yaml", "kit: unused\nread_only: [/srv/kitlink]\n")
	o := NewObserver()
	if set, rep := LoadObserved(dir, o); set == nil {
		t.Fatalf("load: %v", rep)
	}
	ops, results, ok := o.Reads()
	if !ok || len(ops) == 0 {
		t.Fatalf("reads %q ok %v", ops, ok)
	}
	same := func(what string, want bool) {
		t.Helper()
		if got := Same(dir, ops, results); got != want {
			t.Errorf("%s: Same %v, want %v", what, got, want)
		}
	}
	same("nothing changed", true)
	later := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(dir, "tenants/acme.yaml"), later, later)
	same("the manifest touched", true)

	write("tenants/acme.yaml", "tenant: acme\napps:\n  web:\n    command: [/bin/true]\n    listen: activation\n    domains: [acme.tset]\n    read_only: [/srv/data]\n")
	same("a domain changed at the same size", false)
	write("tenants/acme.yaml", "tenant: acme\napps:\n  web:\n    command: [/bin/true]\n    listen: activation\n    domains: [acme.test]\n    read_only: [/srv/data]\n")
	same("the manifest written back", true)

	links["/srv/data"] = "/srv/v2"
	same("the read_only link retargeted", false)
	links["/srv/data"] = "/srv/v1"
	links["/srv/kitlink"] = "/srv/kit"
	same("the unused kit's link made to resolve", false)
	delete(links, "/srv/kitlink")
	same("all back", true)

	write("tenants/README", "x\n")
	same("a file beside the manifests", false)
}
