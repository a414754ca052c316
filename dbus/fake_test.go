package dbus

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/dbus/internal/fakesystemd"
)

// newFake starts a fake systemd and connects to it. The connect ctx ends on
// return, which also proves it does not bound the connection's lifetime.
func newFake(t *testing.T) (*fakesystemd.Systemd, *Conn) {
	t.Helper()
	f := fakesystemd.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := ConnectAddress(ctx, f.Address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return f, c
}

// testCtx is a context that ends with the test (and bounds hung calls).
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitGoroutines fails t unless the number of goroutines drops back to at
// most baseline within two seconds.
func waitGoroutines(t *testing.T, baseline int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines leaked: %d > %d\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
