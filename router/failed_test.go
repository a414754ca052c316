package router

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeUnits answers AnyFailed from a set of failed unit names and counts
// its calls.
type fakeUnits struct {
	mu     sync.Mutex
	failed map[string]bool
	calls  int
	asked  []string
}

func (f *fakeUnits) AnyFailed(_ context.Context, units []string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.asked = units
	for _, u := range units {
		if f.failed[u] {
			return true, nil
		}
	}
	return false, nil
}

func (f *fakeUnits) set(failed ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = map[string]bool{}
	for _, u := range failed {
		f.failed[u] = true
	}
}

// An app whose socket is gone: 502 while systemd has not given up on it,
// 503 with Retry-After at once when one of its units failed, one lookup
// per second however many requests, and served again once it listens.
func TestFailedAppIs503(t *testing.T) {
	units := &fakeUnits{}
	f := newFixture(t, Config{Units: units}, mkSet(app("acme", "web", "/", "acme.test")))
	c := f.client()
	if code, _, _ := f.get(c, "http://acme.test/"); code != 502 {
		t.Fatalf("absent app, no unit failed: %d, want 502", code)
	}
	if want := []string{"ehecoatl-acme-web.socket", "ehecoatl-acme-web.service"}; !slices.Equal(units.asked, want) {
		t.Errorf("looked up %v, want %v", units.asked, want)
	}
	time.Sleep(failRecheck)
	units.set("ehecoatl-acme-web.service")
	calls := units.calls
	for i := 0; i < 20; i++ {
		start := time.Now()
		code, body, h := f.get(c, "http://acme.test/")
		if code != 503 || h.Get("Retry-After") == "" || h.Get("Content-Type") != "text/plain; charset=utf-8" || body != failedBody {
			t.Fatalf("failed app: %d %q Retry-After %q Content-Type %q", code, body, h.Get("Retry-After"), h.Get("Content-Type"))
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("failed app answered after %s", d)
		}
	}
	if n := units.calls - calls; n != 1 {
		t.Errorf("%d lookups for 20 requests within a second, want 1", n)
	}
	f.backend("acme", "web", 0, echoApp())
	if code, _, _ := f.get(c, "http://acme.test/"); code != 200 {
		t.Errorf("app back: %d", code)
	}
}
