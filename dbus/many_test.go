package dbus

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/dbus/internal/fakesystemd"
)

func TestStartManyPartialFailure(t *testing.T) {
	f, c := newFake(t)
	f.SetJob("StartUnit", "", fakesystemd.Job{Delay: 20 * time.Millisecond})
	var units, failing []string
	for i := range 200 {
		u := fmt.Sprintf("ehecoatl-t%d-web.socket", i)
		f.AddUnits(u)
		units = append(units, u)
		if i%50 == 7 {
			f.SetJob("StartUnit", u, fakesystemd.Job{Result: "failed", Delay: 5 * time.Millisecond})
			failing = append(failing, u)
		}
	}
	f.AddUnits("timeout.socket")
	f.SetJob("StartUnit", "timeout.socket", fakesystemd.Job{Result: "timeout"})
	units = append(units, "timeout.socket", "missing.socket")

	err := c.StartMany(testCtx(t), units)
	if err == nil {
		t.Fatal("want an error")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{}
	for _, u := range failing {
		want = append(want, "start "+u+": job failed (see: journalctl -u "+u+")")
	}
	want = append(want, "start timeout.socket: job timed out (see: journalctl -u timeout.socket)",
		"start missing.socket: Unit missing.socket not found.")
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("joined error, in input order:\ngot  %q\nwant %q", lines, want)
	}
	var je *JobError
	if !errors.As(err, &je) || je.Unit != failing[0] {
		t.Errorf("errors.As: %+v", je)
	}
	for _, u := range units[:200] {
		if a, _ := f.State(u); a != "active" && !strings.Contains(err.Error(), u+":") {
			t.Errorf("%s not started: %s", u, a)
		}
	}
	if m := f.MaxRunning(); m > manyInFlight || m < 2 {
		t.Errorf("jobs in flight at once: %d, want 2..%d", m, manyInFlight)
	}
}

func TestManyOps(t *testing.T) {
	f, c := newFake(t)
	ctx := testCtx(t)
	f.AddUnits("a.service", "b.service")
	if err := c.StartMany(ctx, nil); err != nil {
		t.Errorf("no units: %v", err)
	}
	if err := c.RestartMany(ctx, []string{"a.service", "b.service"}); err != nil {
		t.Fatal(err)
	}
	if err := c.TryRestartMany(ctx, []string{"a.service", "b.service"}); err != nil {
		t.Fatal(err)
	}
	if err := c.StopMany(ctx, []string{"a.service", "gone.service", "b.service"}); err != nil {
		t.Errorf("stop with a unit that is not loaded: %v", err)
	}
	for _, u := range []string{"a.service", "b.service"} {
		if a, _ := f.State(u); a != "inactive" {
			t.Errorf("%s: %s after StopMany", u, a)
		}
	}
	if got := f.Installed(); got != 6 {
		t.Errorf("jobs installed: %d, want 6", got)
	}
}

func TestStartManyCancel(t *testing.T) {
	f, c := newFake(t)
	f.SetJob("StartUnit", "", fakesystemd.Job{Never: true})
	var units []string
	for i := range 100 {
		units = append(units, fmt.Sprintf("hang%d.service", i))
	}
	f.AddUnits(units...)
	baseline := runtime.NumGoroutine()

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := c.StartMany(ctx, units)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline exceeded, got %v", err)
	}
	if !strings.Contains(err.Error(), "start: 68 of 100 units not attempted") {
		t.Errorf("error does not count the units not attempted: %v", err)
	}
	if got := f.Installed(); got != manyInFlight {
		t.Errorf("jobs enqueued: %d, want %d", got, manyInFlight)
	}
	waitGoroutines(t, baseline)
}
