package router

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/router/certs"
	"github.com/ehecoatl/ehecoatl/tlsstate"
)

type statusCerts struct {
	*fakeCerts
	st []certs.DomainStatus
}

func (s *statusCerts) Status() []certs.DomainStatus { return s.st }

// The engine's state reaches the record the CLI reads, sorted, and an
// unchanged state is not written again.
func TestCertState(t *testing.T) {
	exp := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	sc := &statusCerts{fakeCerts: newFakeCerts(t, "a.example.com"), st: []certs.DomainStatus{
		{Domain: "b.example.com", Tenant: "acme", Mode: certs.Files, State: "failed: no such file"},
		{Domain: "a.example.com", Tenant: "acme", Mode: certs.Auto, State: "valid", NotAfter: exp, Source: "acme"},
	}}
	p := filepath.Join(t.TempDir(), "certs.json")
	rt := &Router{cfg: Config{Certs: sc, CertState: p, Logger: quietLogger(t)}}
	last := rt.writeCertState(nil)
	rec, ok, err := tlsstate.Read(p)
	if !ok || err != nil || len(rec.Domains) != 2 || rec.Domains[0].Domain != "a.example.com" || rec.Domains[0].Mode != "auto" ||
		rec.Domains[0].NotAfter == nil || !rec.Domains[0].NotAfter.Equal(exp) || rec.Domains[1].State != "failed: no such file" {
		t.Fatalf("record %+v %v %v", rec, ok, err)
	}
	before, _ := os.Stat(p)
	time.Sleep(10 * time.Millisecond)
	if again := rt.writeCertState(last); string(again) != string(last) {
		t.Errorf("an unchanged state compared differently")
	}
	if after, _ := os.Stat(p); !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("an unchanged state was written again")
	}
	sc.st[0].State = "valid"
	rt.writeCertState(last)
	if rec, _, _ := tlsstate.Read(p); rec.Domains[1].State != "valid" {
		t.Errorf("a change was not written: %+v", rec.Domains)
	}
}
