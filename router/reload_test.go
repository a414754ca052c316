package router

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/manifest"
)

// Continuous load while tables are swapped 100 times: zero failures, and
// a slow request to an app removed meanwhile still completes.
func TestReloadUnderLoad(t *testing.T) {
	setA := mkSet(app("acme", "web", "/", "acme.test"), app("beta", "web", "/", "beta.test"))
	setB := mkSet(app("acme", "web", "/", "acme.test", "www.acme.test"), app("acme", "api", "/api", "acme.test"))
	f := newFixture(t, Config{AccessLog: discardLog{}}, setA)
	f.backend("acme", "web", 0, hello("acme"))
	f.backend("acme", "api", 0, hello("api"))
	f.backend("beta", "web", 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "slow beta")
	}))
	c := f.client()

	slow := make(chan string, 1)
	go func() {
		resp, err := c.Get("http://beta.test/")
		if err != nil {
			slow <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- string(b)
	}()
	time.Sleep(50 * time.Millisecond)

	stop := make(chan struct{})
	var reqs, fails atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get("http://acme.test/")
				reqs.Add(1)
				if err != nil {
					fails.Add(1)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(b) != "hello from acme" {
					fails.Add(1)
				}
			}
		}()
	}
	for i := 0; i < 100; i++ {
		set := setA
		if i%2 == 0 {
			set = setB
		}
		if err := f.rt.SetManifests(set); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if got := <-slow; got != "slow beta" {
		t.Fatalf("in-flight request across reloads: %q", got)
	}
	t.Logf("%d requests during 100 table swaps, %d failed", reqs.Load(), fails.Load())
	if fails.Load() != 0 || reqs.Load() < 100 {
		t.Fatalf("%d of %d requests failed", fails.Load(), reqs.Load())
	}
	// The last table (setA) has no api route; after a final swap to setB
	// the api answers.
	f.rt.SetManifests(setB)
	if code, body, _ := f.get(c, "http://acme.test/api/x"); code != 200 || body != "hello from api" {
		t.Fatalf("api after reload: %d %q", code, body)
	}
	if code, _, _ := f.get(c, "http://beta.test/"); code != 404 {
		t.Fatalf("removed tenant: %d", code)
	}
}

// Reload tells systemd RELOADING=1 then READY=1; a rejected manifest set
// keeps the old table.
func TestReloadKeepsOldTableOnError(t *testing.T) {
	var sets atomic.Pointer[manifest.Set]
	sets.Store(mkSet(app("acme", "web", "/", "acme.test")))
	var bad atomic.Bool
	var mu sync.Mutex
	var notes []string
	var logBuf strings.Builder
	cfg := Config{
		Load: func(string) (*manifest.Set, error) {
			if bad.Load() {
				return nil, errors.New("tenants/acme.yaml:3:1 apps.web: something is wrong")
			}
			return sets.Load(), nil
		},
	}
	f := newFixture(t, cfg, nil)
	f.rt.cfg.Notify = func(s string) { mu.Lock(); notes = append(notes, s); mu.Unlock() }
	_ = logBuf
	f.backend("acme", "web", 0, hello("acme"))
	c := f.client()
	if code, _, _ := f.get(c, "http://acme.test/"); code != 200 {
		t.Fatalf("initial: %d", code)
	}
	bad.Store(true)
	if err := f.rt.Reload(); err == nil {
		t.Fatal("bad reload succeeded")
	}
	if code, _, _ := f.get(c, "http://acme.test/"); code != 200 {
		t.Fatalf("after a bad reload: %d", code)
	}
	bad.Store(false)
	sets.Store(mkSet(app("acme", "web", "/", "other.test")))
	if err := f.rt.Reload(); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := f.get(c, "http://acme.test/"); code != 404 {
		t.Fatalf("after a good reload: %d", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(notes) != 4 || !strings.HasPrefix(notes[0], "RELOADING=1\nMONOTONIC_USEC=") || notes[1] != "READY=1" || !strings.HasPrefix(notes[2], "RELOADING=1") || notes[3] != "READY=1" {
		t.Fatalf("notifications: %q", notes)
	}
}

type fakeStopper struct {
	mu    sync.Mutex
	units []string
	at    []time.Time
}

func (s *fakeStopper) Stop(_ context.Context, unit string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.units = append(s.units, unit)
	s.at = append(s.at, time.Now())
	return nil
}

func (s *fakeStopper) get() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.units...)
}

func TestIdleStop(t *testing.T) {
	web := app("acme", "web", "/", "acme.test")
	web.IdleTimeout = 300 * time.Millisecond
	workers := app("acme", "jobs", "/", "jobs.test")
	workers.IdleTimeout = 300 * time.Millisecond
	workers.Workers = 2
	port := app("acme", "legacy", "/", "legacy.test")
	port.Listen, port.Port, port.IdleTimeout = manifest.ListenPort, 8080, 300*time.Millisecond
	never := app("acme", "db", "/", "never.test") // idle_timeout 0
	st := &fakeStopper{}
	f := newFixture(t, Config{Stopper: st, IdleCheckInterval: 20 * time.Millisecond}, mkSet(web, workers, port, never))
	f.backend("acme", "web", 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/long" {
			time.Sleep(700 * time.Millisecond)
		}
	}))
	f.backend("acme", "jobs", 1, hello("j1"))
	f.backend("acme", "jobs", 2, hello("j2"))
	f.backend("acme", "legacy", 0, hello("legacy"))
	f.backend("acme", "db", 0, hello("db"))
	c := f.client()
	for _, h := range []string{"acme", "jobs", "legacy", "never"} {
		f.get(c, "http://"+h+".test/")
	}
	// A long request keeps web busy past its idle timeout.
	start := time.Now()
	f.get(c, "http://acme.test/long")
	if got := st.get(); strings.Contains(strings.Join(got, " "), "ehecoatl-acme-web.service") {
		t.Fatalf("web stopped during a request: %v", got)
	}
	var pooled int
	for _, a := range f.rt.Table().apps {
		if a.name == "web" {
			pooled = a.ups[0].idleCount()
		}
	}
	if pooled != 1 {
		t.Fatalf("web pool before stop: %d", pooled)
	}
	deadline := time.Now().Add(3 * time.Second)
	for len(st.get()) < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // no repeated stops
	got := st.get()
	want := "ehecoatl-acme-jobs@1.service ehecoatl-acme-jobs@2.service ehecoatl-acme-web.service"
	if strings.Join(got, " ") != want {
		t.Fatalf("stopped %q, want %q", got, want)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("stopped too early: %s", d)
	}
	for _, a := range f.rt.Activity() {
		if stopped := a.App == "web" || a.App == "jobs"; a.Stopped != stopped {
			t.Errorf("%s stopped=%v", a.App, a.Stopped)
		}
	}
	// The goroutine path's pool is dropped at the stop; a loop drops what
	// its own pool holds of a dropped generation at its next reap, every
	// loopPoll (upstream.gen).
	for _, a := range f.rt.Table().apps {
		if a.name != "web" {
			continue
		}
		waitFor(t, "web's pooled connections to close after the stop", func() bool { return a.ups[0].idleCount() == 0 })
	}
	// Traffic again: eligible for another stop.
	f.get(c, "http://acme.test/")
	deadline = time.Now().Add(3 * time.Second)
	for len(st.get()) < 4 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := st.get(); len(got) != 4 || got[3] != "ehecoatl-acme-web.service" {
		t.Fatalf("second stop: %q", got)
	}
	// The port app's pooled connection is closed (after half its idle
	// timeout) so that its bridge can exit.
	for _, a := range f.rt.Table().apps {
		if a.name == "legacy" && a.ups[0].idleCount() != 0 {
			t.Fatalf("legacy still has pooled connections")
		}
	}
}

// monotonicUsec is what systemd reads with RELOADING=1: microseconds of
// CLOCK_MONOTONIC, so it moves with real time.
func TestMonotonicUsec(t *testing.T) {
	a := monotonicUsec()
	time.Sleep(20 * time.Millisecond)
	b := monotonicUsec()
	if a <= 0 || b-a < 20_000 || b-a > 2_000_000 {
		t.Errorf("monotonicUsec: %d then %d after 20ms", a, b)
	}
}
