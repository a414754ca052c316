package router

import (
	"context"
	"net"
	"os"
	"path/filepath"
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

func (f *fakeUnits) seen() (int, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, f.asked
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
	if _, asked := units.seen(); !slices.Equal(asked, []string{"ehecoatl-acme-web.socket", "ehecoatl-acme-web.service"}) {
		t.Errorf("looked up %v, want the app's socket and service", asked)
	}
	time.Sleep(failRecheck)
	units.set("ehecoatl-acme-web.service")
	calls, _ := units.seen()
	loop := time.Now()
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
	// One lookup per failRecheck, however many requests.
	if n, _ := units.seen(); n-calls < 1 || n-calls > int(time.Since(loop)/failRecheck)+1 {
		t.Errorf("%d lookups for 20 requests in %s", n-calls, time.Since(loop))
	}
	f.backend("acme", "web", 0, echoApp())
	if code, _, _ := f.get(c, "http://acme.test/"); code != 200 {
		t.Errorf("app back: %d", code)
	}
}

// The same over HTTP/2.
func TestH2FailedAppIs503(t *testing.T) {
	units := &fakeUnits{}
	units.set("ehecoatl-gone-web.socket")
	f, fc := h2Fixture(t, Config{Units: units}, app("gone", "web", "/", "gone.example.com"))
	c, _ := f.h2Client(fc.pool)
	resp, b := h2Get(t, c, "https://gone.example.com/", "")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != failedRetryAfter || string(b) != failedBody {
		t.Errorf("failed app over HTTP/2: %d %q %v", resp.StatusCode, b, resp.Header)
	}
}

// The request that waited in the socket's queue while systemd retried the
// app gets the 503 too when systemd gives up and closes the socket: a
// fresh connection closed before a byte of a response.
func TestQueuedRequestOfFailedAppIs503(t *testing.T) {
	units := &fakeUnits{}
	f := newFixture(t, Config{Units: units}, mkSet(app("acme", "web", "/", "acme.test")))
	os.MkdirAll(filepath.Join(f.runDir, "acme"), 0o755)
	l, err := net.Listen("unix", filepath.Join(f.runDir, "acme", "web.sock"))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		time.Sleep(200 * time.Millisecond) // the restarts
		units.set("ehecoatl-acme-web.service")
		c.Close()
		l.Close()
	}()
	code, body, h := f.get(f.client(), "http://acme.test/")
	if code != 503 || body != failedBody || h.Get("Retry-After") == "" {
		t.Errorf("queued request of an app given up on: %d %q %v", code, body, h)
	}
}
