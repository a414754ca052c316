package dbus

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/ehecoatl/ehecoatl/dbus/internal/fakesystemd"
)

// A Client dials on its first call, keeps the connection, and dials again
// once that connection is lost.
func TestClientLazyAndReconnects(t *testing.T) {
	f := fakesystemd.New(t)
	f.AddUnits("ehecoatl-acme-web.socket")
	var dials atomic.Int32
	c := &Client{Dial: func(ctx context.Context) (*Conn, error) {
		dials.Add(1)
		return ConnectAddress(ctx, f.Address)
	}}
	defer c.Close()
	if n := dials.Load(); n != 0 {
		t.Fatalf("dialed %d times before the first call", n)
	}
	ctx := testCtx(t)
	for range 2 {
		if l, err := c.ListUnits(ctx, "ehecoatl-*"); err != nil || len(l) != 1 {
			t.Fatalf("list: %v %v", l, err)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Fatalf("two calls dialed %d times, want 1", n)
	}
	// Lose the connection underneath the client, as a restarted
	// dbus-daemon would.
	conn, err := c.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn.bus.Close()
	if _, err := c.ListUnits(ctx, "ehecoatl-*"); err != nil {
		t.Fatalf("list after the connection was lost: %v", err)
	}
	if n := dials.Load(); n != 2 {
		t.Fatalf("dialed %d times after a lost connection, want 2", n)
	}
}
