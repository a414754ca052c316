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
