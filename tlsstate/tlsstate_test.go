package tlsstate

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestWriteRead(t *testing.T) {
	p := filepath.Join(t.TempDir(), "certs.json")
	if _, ok, err := Read(p); ok || err != nil {
		t.Fatalf("no record: ok=%v err=%v", ok, err)
	}
	exp := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	r := Record{Written: exp.Add(-90 * 24 * time.Hour), Domains: []Domain{
		{Domain: "a.example.com", Tenant: "acme", Mode: "auto", State: "valid", NotAfter: &exp},
		{Domain: "b.example.com", Tenant: "acme", Mode: "files", State: "failed: key does not match"},
	}}
	if err := Write(p, r); err != nil {
		t.Fatal(err)
	}
	got, ok, err := Read(p)
	if !ok || err != nil || !reflect.DeepEqual(got.Domains, r.Domains) || !got.Written.Equal(r.Written) {
		t.Fatalf("read %+v %v %v", got, ok, err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", fi.Mode())
	}
	m := got.ByDomain()
	if s := m["a.example.com"].Summary(r.Written); s != "auto, valid 90d" {
		t.Errorf("summary %q", s)
	}
	if s := m["b.example.com"].Summary(r.Written); s != "files, failed: key does not match" {
		t.Errorf("summary %q", s)
	}
}
