package dbus

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/dbus/internal/fakesystemd"
	godbus "github.com/godbus/dbus/v5"
)

func TestReload(t *testing.T) {
	f, c := newFake(t)
	f.SetReload(200*time.Millisecond, nil)
	start := time.Now()
	if err := c.Reload(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("Reload returned after %v, before systemd finished", d)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.Reload(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("reload past ctx: %v", err)
	}

	f.SetReload(0, godbus.NewError("org.freedesktop.DBus.Error.AccessDenied", []any{"Access denied"}))
	if err := c.Reload(testCtx(t)); err == nil || err.Error() != "daemon-reload: permission denied (run as root): Access denied" {
		t.Errorf("refused reload: %v", err)
	}
}

func TestResetFailed(t *testing.T) {
	f, c := newFake(t)
	ctx := testCtx(t)
	f.AddUnit("bad.service", map[string]map[string]any{"Unit": {"ActiveState": "failed", "SubState": "failed"}})
	if err := c.ResetFailed(ctx, "bad.service"); err != nil {
		t.Fatal(err)
	}
	if a, _ := f.State("bad.service"); a != "inactive" {
		t.Errorf("after reset-failed: %s", a)
	}
	if err := c.ResetFailed(ctx, "gone.service"); err != nil {
		t.Errorf("reset-failed of a unit that is not loaded: %v", err)
	}
}

func TestManagerStats(t *testing.T) {
	f, c := newFake(t)
	ctx := testCtx(t)
	f.AddUnits("a.service", "b.service")
	f.SetJob("StartUnit", "b.service", fakesystemd.Job{Result: "failed"})
	before, err := c.ManagerStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if before.Version != fakesystemd.Version || before.SystemState != "running" || before.NNames != 2 || before.NInstalledJobs != 0 {
		t.Errorf("stats: %+v", before)
	}
	c.Start(ctx, "a.service")
	c.Start(ctx, "b.service")
	after, err := c.ManagerStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.NInstalledJobs != before.NInstalledJobs+2 || after.NFailedUnits != 1 || after.NJobs != 0 {
		t.Errorf("after two jobs: %+v", after)
	}
}
