package router

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/manifest"
)

// TestDrain: a drained worker gets no new request, the report lists it
// once nothing is in flight, and with every worker drained a request
// waits for one to come back instead of failing.
func TestDrain(t *testing.T) {
	a := app("acme", "web", "/", "acme.test")
	a.Workers = 2
	set := mkSet(a)
	var mu sync.Mutex
	drained := map[string]bool{}
	report := filepath.Join(t.TempDir(), "drained")
	f := newFixture(t, Config{
		Load: func(string) (*manifest.Set, error) { return set, nil },
		Draining: func() (map[string]bool, error) {
			mu.Lock()
			defer mu.Unlock()
			m := map[string]bool{}
			for k, v := range drained {
				m[k] = v
			}
			return m, nil
		},
		DrainedReport: report,
	}, nil)
	f.backend("acme", "web", 1, hello("1"))
	f.backend("acme", "web", 2, hello("2"))
	set2 := func(m map[string]bool) {
		mu.Lock()
		drained = m
		mu.Unlock()
		if err := f.rt.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	set2(map[string]bool{"acme/web@1.sock": true})
	c := f.client()
	for i := 0; i < 20; i++ {
		if _, body, _ := f.get(c, "http://acme.test/"); body != "hello from 2" {
			t.Fatalf("request %d with worker 1 drained: %q", i, body)
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		b, _ := os.ReadFile(report)
		if strings.TrimSpace(string(b)) == "acme/web@1.sock" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("report %q, want acme/web@1.sock", b)
		}
		time.Sleep(10 * time.Millisecond)
	}

	set2(map[string]bool{"acme/web@1.sock": true, "acme/web@2.sock": true})
	got := make(chan string, 1)
	go func() {
		_, body, _ := f.get(c, "http://acme.test/")
		got <- body
	}()
	select {
	case b := <-got:
		t.Fatalf("a request with every worker drained was answered at once: %q", b)
	case <-time.After(300 * time.Millisecond):
	}
	set2(map[string]bool{"acme/web@2.sock": true})
	select {
	case b := <-got:
		if b != "hello from 1" {
			t.Fatalf("held request answered %q, want worker 1", b)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("held request not answered after worker 1 came back")
	}

	// Worker 2 was down (a broken version failed its probes); the rollout
	// restarts it, checks it and undrains it: it serves at once, without
	// waiting for two passed probes.
	var w2 *upstream
	for _, a := range f.rt.table.Load().apps {
		w2 = a.ups[1]
	}
	w2.health.down.Store(true)
	set2(map[string]bool{})
	if w2.health.down.Load() {
		t.Error("worker 2 is still down after the rollout undrained it")
	}
}

// TestDrainSecondSlot: the second slot of an app of one worker gets no
// request until the record lists it with "+"; then it gets every request
// while the app's own instance is drained, and is reported once drained
// itself with nothing in flight.
func TestDrainSecondSlot(t *testing.T) {
	set := mkSet(app("acme", "web", "/", "acme.test"))
	var mu sync.Mutex
	drained := map[string]bool{}
	report := filepath.Join(t.TempDir(), "drained")
	f := newFixture(t, Config{
		Load: func(string) (*manifest.Set, error) { return set, nil },
		Draining: func() (map[string]bool, error) {
			mu.Lock()
			defer mu.Unlock()
			return maps.Clone(drained), nil
		},
		DrainedReport: report,
	}, nil)
	f.backend("acme", "web", 0, hello("main"))
	serveUnix(t, filepath.Join(f.runDir, "acme", "web-next.sock"), hello("next"))
	set2 := func(m map[string]bool) {
		mu.Lock()
		drained = m
		mu.Unlock()
		if err := f.rt.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	c := f.client()
	answers := func(want string) {
		t.Helper()
		for i := 0; i < 20; i++ {
			if _, body, _ := f.get(c, "http://acme.test/"); body != "hello from "+want {
				t.Fatalf("request %d with record %v: %q, want %s", i, drained, body, want)
			}
		}
	}
	reported := func(want string) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for {
			b, _ := os.ReadFile(report)
			if strings.TrimSpace(string(b)) == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("report %q, want %q", b, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	answers("main")
	set2(map[string]bool{"acme/web.sock": true, "+acme/web-next.sock": true})
	answers("next")
	reported("acme/web.sock")
	set2(map[string]bool{"acme/web-next.sock": true})
	answers("main")
	reported("acme/web-next.sock")
	set2(map[string]bool{})
	answers("main")
}
