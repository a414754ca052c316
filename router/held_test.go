package router

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ehecoatl/ehecoatl/manifest"
)

// A held app (operator stop read at reload, or a suspended tenant) is
// answered with 503, Retry-After and a short plain page, never forwarded;
// the next reload without the stop serves it again.
func TestHeldApps(t *testing.T) {
	set := mkSet(app("b", "web", "/", "b.test"), app("d", "web", "/", "d.test"), app("s", "web", "/", "s.test"))
	set.Tenants[2].Suspended = true
	var stopped atomic.Bool
	stopped.Store(true)
	cfg := Config{
		Load: func(string) (*manifest.Set, error) { return set, nil },
		Stopped: func() (func(tenant, app string) bool, error) {
			on := stopped.Load()
			return func(tenant, _ string) bool { return on && tenant == "d" }, nil
		},
	}
	f := newFixture(t, cfg, nil)
	for _, tn := range []string{"b", "d", "s"} {
		f.backend(tn, "web", 0, hello(tn))
	}
	c := f.client()
	check := func(host string, want int) {
		t.Helper()
		code, body, h := f.get(c, "http://"+host+"/")
		if code != want {
			t.Errorf("%s: %d %q, want %d", host, code, body, want)
		}
		if want == 503 {
			if h.Get("Retry-After") == "" || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") || !strings.Contains(body, "temporarily unavailable") {
				t.Errorf("%s: 503 without Retry-After or plain page: %v %q", host, h, body)
			}
		}
	}
	check("b.test", 200)
	check("d.test", 503)
	check("s.test", 503)
	stopped.Store(false)
	if err := f.rt.Reload(); err != nil {
		t.Fatal(err)
	}
	check("d.test", 200)
	check("s.test", 503)
}

// Over HTTP/2 a held app gets the same 503 as over HTTP/1.1.
func TestH2Held(t *testing.T) {
	apps := []*manifest.App{app("d", "web", "/", "d.example.com"), app("b", "web", "/", "b.example.com")}
	f, fc := h2Fixture(t, Config{}, apps...)
	f.backend("b", "web", 0, hello("b"))
	if err := f.rt.setManifests(mkSet(apps...), func(tenant, _ string) bool { return tenant == "d" }); err != nil {
		t.Fatal(err)
	}
	c, _ := f.h2Client(fc.pool)
	resp, b := h2Get(t, c, "https://d.example.com/", "")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != heldRetry || string(b) != heldPage {
		t.Errorf("held app over HTTP/2: %d %v %q", resp.StatusCode, resp.Header, b)
	}
	if resp, _ := h2Get(t, c, "https://b.example.com/", ""); resp.StatusCode != 200 {
		t.Errorf("other app over HTTP/2: %d", resp.StatusCode)
	}
}
