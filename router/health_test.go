package router

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/health"
)

type healthEvents struct {
	mu  sync.Mutex
	got []string
}

func (h *healthEvents) log(tenant, app string, instance int, up bool, msg string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = append(h.got, msg)
}

func (h *healthEvents) all() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string{}, h.got...)
}

// A worker whose socket is gone: every request is served by the other
// (a failed connect is tried on another worker), the worker goes down
// after health.PassiveFails failed connects, the record says so, and once
// every worker is down the answer is 503 with Retry-After.
func TestPassiveHealthFailover(t *testing.T) {
	ev := &healthEvents{}
	dir := t.TempDir()
	state := filepath.Join(dir, "health.json")
	a := app("acme", "web", "/", "acme.test")
	a.Workers = 2
	f := newFixture(t, Config{HealthLog: ev.log, HealthState: state}, mkSet(a))
	s1 := f.backend("acme", "web", 1, hello("one"))
	f.backend("acme", "web", 2, hello("two"))
	c := f.client()
	for i := 0; i < 4; i++ {
		if code, body, _ := f.get(c, "http://acme.test/"); code != 200 {
			t.Fatalf("both up: %d %q", code, body)
		}
	}
	s1.Close()
	errs := 0
	for i := 0; i < 20; i++ {
		if code, body, _ := f.get(c, "http://acme.test/"); code != 200 || !strings.Contains(body, "two") {
			errs++
		}
	}
	if errs != 0 {
		t.Errorf("%d of 20 requests failed with worker 1 gone", errs)
	}
	if got := ev.all(); len(got) != 1 || !strings.HasPrefix(got[0], "acme/web@1 is down: 3 failed requests") {
		t.Errorf("transitions: %q", got)
	}
	var rec health.Record
	for i := 0; i < 50; i++ {
		if rec, _, _ = health.Read(state); len(rec.Instances) == 2 && rec.Instances[0].Health == "down" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(rec.Instances) != 2 || rec.Instances[0].Health != "down" || rec.Instances[1].Health != "up" || rec.Instances[0].Since == nil {
		t.Errorf("record: %+v", rec.Instances)
	}
	// The other worker answers 502 (a broken proxy in the app): it goes
	// down too, and then the router answers for the app.
	st := f.rt.table.Load().apps[0]
	for i := 0; i < health.PassiveFails; i++ {
		f.rt.observe(st, st.ups[1], http.StatusBadGateway)
	}
	code, body, h := f.get(c, "http://acme.test/")
	if code != 503 || body != downBody || h.Get("Retry-After") != downRetry {
		t.Errorf("every worker down: %d %q Retry-After %q", code, body, h.Get("Retry-After"))
	}
}

// A 500 is an app's answer, not a sick instance; an app of one instance
// without health: is never taken down.
func TestHealthIgnores(t *testing.T) {
	ev := &healthEvents{}
	one := app("acme", "one", "/", "one.test")
	two := app("acme", "two", "/", "two.test")
	two.Workers = 2
	f := newFixture(t, Config{HealthLog: ev.log}, mkSet(one, two))
	boom := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
	f.backend("acme", "two", 1, boom)
	f.backend("acme", "two", 2, boom)
	c := f.client()
	for i := 0; i < 10; i++ {
		f.get(c, "http://two.test/")
		if code, _, _ := f.get(c, "http://one.test/"); code != 502 {
			t.Fatalf("absent single app: %d, want 502 each time", code)
		}
	}
	if got := ev.all(); len(got) != 0 {
		t.Errorf("transitions: %q", got)
	}
}

// Active probes: GET health: with the app's first domain, over the
// instance's socket; health.Fails failed probes take it down, health.Passes
// bring it back. Instances that do not run are not probed.
func TestActiveHealth(t *testing.T) {
	ev := &healthEvents{}
	a := app("acme", "web", "/", "*.acme.test", "www.acme.test")
	a.Workers = 2
	a.Health = "/healthz"
	var mu sync.Mutex
	sick := false
	var hosts []string
	running := []bool{true, false}
	f := newFixture(t, Config{HealthLog: ev.log, HealthInterval: time.Hour,
		Running: func(_ context.Context, units []string) ([]bool, error) {
			mu.Lock()
			defer mu.Unlock()
			if len(units) != 2 || units[1] != "ehecoatl-acme-web@2.service" {
				t.Errorf("asked about %v", units)
			}
			return append([]bool{}, running...), nil
		}}, mkSet(a))
	h := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			hosts = append(hosts, name+" "+r.Host+r.URL.Path)
			if sick {
				w.WriteHeader(503)
			}
		})
	}
	f.backend("acme", "web", 1, h("one"))
	f.backend("acme", "web", 2, h("two"))
	mu.Lock()
	sick = true
	mu.Unlock()
	for i := 0; i < health.Fails; i++ {
		f.rt.probeAll()
	}
	mu.Lock()
	if len(hosts) != health.Fails || hosts[0] != "one www.acme.test/healthz" {
		t.Errorf("probes: %q (only worker 1 runs)", hosts)
	}
	sick = false
	mu.Unlock()
	if got := ev.all(); len(got) != 1 || !strings.HasPrefix(got[0], "acme/web@1 is down: failed 3 health checks") {
		t.Fatalf("transitions: %q", got)
	}
	for i := 0; i < health.Passes; i++ {
		f.rt.probeAll()
	}
	if got := ev.all(); len(got) != 2 || !strings.HasPrefix(got[1], "acme/web@1 is up: passed 2 health checks") {
		t.Errorf("transitions: %q", got)
	}
}

// Choosing a worker and counting outcomes cost no allocation, with a
// worker down and with failures that change nothing.
func TestHealthAllocs(t *testing.T) {
	a := app("acme", "web", "/", "acme.test")
	a.Workers = 3
	f := newFixture(t, Config{HealthLog: func(string, string, int, bool, string) {}}, mkSet(a))
	st := f.rt.table.Load().apps[0]
	st.ups[1].health.down.Store(true)
	if n := testing.AllocsPerRun(1000, func() {
		if u := st.pick(nil); u == nil || u == st.ups[1] {
			t.Fatal("picked a down worker")
		}
		f.rt.observe(st, st.ups[0], 200)
		f.rt.observe(st, st.ups[1], 502) // already down: counted, no transition
	}); n != 0 {
		t.Errorf("pick and observe allocate %.1f times", n)
	}
}

// Over HTTP/2 too, an app whose workers are all down is answered 503
// with Retry-After.
func TestH2AllDown(t *testing.T) {
	a := app("acme", "web", "/", "acme.example.com")
	a.Workers = 2
	f, fc := h2Fixture(t, Config{HealthLog: func(string, string, int, bool, string) {}}, a)
	for _, u := range f.rt.table.Load().apps[0].ups {
		u.health.down.Store(true)
	}
	c, _ := f.h2Client(fc.pool)
	resp, b := h2Get(t, c, "https://acme.example.com/", "")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != downRetry || string(b) != downBody {
		t.Errorf("all down over HTTP/2: %d %q %v", resp.StatusCode, b, resp.Header)
	}
}
