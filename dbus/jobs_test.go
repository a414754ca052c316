package dbus

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/dbus/internal/fakesystemd"
	godbus "github.com/godbus/dbus/v5"
)

func TestJobResults(t *testing.T) {
	f, c := newFake(t)
	ops := []struct {
		name, method string
		run          func(context.Context, string) error
	}{
		{"start", "StartUnit", c.Start},
		{"stop", "StopUnit", c.Stop},
		{"restart", "RestartUnit", c.Restart},
		{"try-restart", "TryRestartUnit", c.TryRestart},
	}
	results := []struct {
		result string
		delay  time.Duration
	}{
		{"done", 0}, {"done", 30 * time.Millisecond}, {"failed", 0}, {"timeout", 10 * time.Millisecond},
		{"dependency", 0}, {"canceled", 0}, {"skipped", 0},
	}
	for _, op := range ops {
		for _, r := range results {
			name := r.result
			if r.delay > 0 {
				name += "-delayed"
			}
			t.Run(op.name+"/"+name, func(t *testing.T) {
				unit := "u-" + op.name + "-" + name + ".service"
				f.AddUnits(unit)
				f.SetJob(op.method, unit, fakesystemd.Job{Result: r.result, Delay: r.delay})
				err := op.run(testCtx(t), unit)
				if r.result == "done" {
					if err != nil {
						t.Fatalf("unexpected error: %v", err)
					}
					return
				}
				var je *JobError
				if !errors.As(err, &je) {
					t.Fatalf("want *JobError, got %T %v", err, err)
				}
				if je.Unit != unit || je.Op != op.name || je.Result != r.result || je.JobID == 0 {
					t.Errorf("JobError = %+v", je)
				}
				if !strings.HasPrefix(err.Error(), op.name+" "+unit+": ") {
					t.Errorf("message %q does not start with op and unit", err)
				}
			})
		}
	}
	if !slices.Contains(f.Calls(), "StartUnit u-start-done.service replace") {
		t.Errorf("jobs must use mode replace; calls: %q", f.Calls())
	}
}

func TestJobStateChanges(t *testing.T) {
	f, c := newFake(t)
	ctx := testCtx(t)
	f.AddUnits("a.socket", "b.service")
	if err := c.Start(ctx, "a.socket"); err != nil {
		t.Fatal(err)
	}
	if a, s := f.State("a.socket"); a != "active" || s != "listening" {
		t.Errorf("after start: %s/%s", a, s)
	}
	if err := c.TryRestart(ctx, "b.service"); err != nil {
		t.Fatal(err)
	}
	if a, _ := f.State("b.service"); a != "inactive" {
		t.Errorf("try-restart started an inactive unit: %s", a)
	}
	if err := c.Stop(ctx, "a.socket"); err != nil {
		t.Fatal(err)
	}
	if a, s := f.State("a.socket"); a != "inactive" || s != "dead" {
		t.Errorf("after stop: %s/%s", a, s)
	}
}

func TestJobRefused(t *testing.T) {
	f, c := newFake(t)
	ctx := testCtx(t)

	err := c.Start(ctx, "missing.service")
	if !IsNoSuchUnit(err) || err.Error() != "start missing.service: Unit missing.service not found." {
		t.Errorf("start of a missing unit: %v", err)
	}
	if err := c.Restart(ctx, "missing.service"); !IsNoSuchUnit(err) {
		t.Errorf("restart of a missing unit: %v", err)
	}
	// Not loaded means not running: stopping it has nothing to do.
	if err := c.Stop(ctx, "missing.service"); err != nil {
		t.Errorf("stop of a unit that is not loaded: %v", err)
	}

	f.AddUnits("locked.service")
	f.SetJob("StartUnit", "locked.service", fakesystemd.Job{Err: godbus.NewError(
		"org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", []any{"Interactive authentication required."})})
	err = c.Start(ctx, "locked.service")
	if err == nil || err.Error() != "start locked.service: permission denied (run as root): Interactive authentication required." {
		t.Errorf("polkit refusal: %v", err)
	}
	if err := c.Start(ctx, ""); err == nil || !strings.Contains(err.Error(), "empty unit name") {
		t.Errorf("empty name: %v", err)
	}
}

func TestJobContextCancel(t *testing.T) {
	f, c := newFake(t)
	f.AddUnits("hang.service")
	f.SetJob("StartUnit", "hang.service", fakesystemd.Job{Never: true})
	baseline := runtime.NumGoroutine()

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Start(ctx, "hang.service")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "stays queued in systemd") {
		t.Fatalf("want deadline error, got %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Start returned %v after the deadline", d)
	}
	waitGoroutines(t, baseline)

	// An already-ended ctx enqueues nothing.
	n := f.Installed()
	if err := c.Start(ctx, "hang.service"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ended ctx: %v", err)
	}
	if f.Installed() != n {
		t.Errorf("a job was enqueued with an ended ctx")
	}
	// The connection still works for other jobs.
	f.AddUnits("ok.service")
	if err := c.Start(testCtx(t), "ok.service"); err != nil {
		t.Errorf("start after a cancelled job: %v", err)
	}
}

func TestJobConnectionLost(t *testing.T) {
	f, c := newFake(t)
	f.AddUnits("hang.service")
	f.SetJob("StartUnit", "hang.service", fakesystemd.Job{Never: true})
	time.AfterFunc(100*time.Millisecond, f.Close)
	err := c.Start(testCtx(t), "hang.service")
	if err == nil || !strings.Contains(err.Error(), "connection to systemd lost") {
		t.Fatalf("want connection lost, got %v", err)
	}
}
