package dbus

import (
	"context"
	"fmt"

	sd "github.com/coreos/go-systemd/v22/dbus"
)

// jobMode is the mode of every job we enqueue: like systemctl, a new job
// replaces conflicting queued ones.
const jobMode = "replace"

// jobOp is one kind of unit job.
type jobOp struct {
	name    string // as shown to users and in JobError.Op
	enqueue func(c *sd.Conn, ctx context.Context, unit, mode string, ch chan<- string) (int, error)
	// notLoadedOK: systemd's NoSuchUnit means the goal is already reached.
	notLoadedOK bool
}

var (
	opStart      = jobOp{name: "start", enqueue: (*sd.Conn).StartUnitContext}
	opStop       = jobOp{name: "stop", enqueue: (*sd.Conn).StopUnitContext, notLoadedOK: true}
	opRestart    = jobOp{name: "restart", enqueue: (*sd.Conn).RestartUnitContext}
	opTryRestart = jobOp{name: "try-restart", enqueue: (*sd.Conn).TryRestartUnitContext}
	opReload     = jobOp{name: "reload", enqueue: (*sd.Conn).ReloadUnitContext}
)

// ReloadUnit asks a running unit to reload its configuration (ExecReload=,
// e.g. SIGHUP to the router) and waits for the job's result.
func (c *Conn) ReloadUnit(ctx context.Context, unit string) error { return c.job(ctx, opReload, unit) }

// Start starts unit and waits for the job's result. A result other than
// "done" is a *JobError.
func (c *Conn) Start(ctx context.Context, unit string) error { return c.job(ctx, opStart, unit) }

// Stop stops unit and waits for the job's result. A unit systemd has not
// loaded is not running, so stopping it succeeds (apply stops units of removed
// apps whose unit files are already gone).
func (c *Conn) Stop(ctx context.Context, unit string) error { return c.job(ctx, opStop, unit) }

// Restart restarts unit (starting it if it was not running) and waits.
func (c *Conn) Restart(ctx context.Context, unit string) error { return c.job(ctx, opRestart, unit) }

// TryRestart restarts unit only if it is running, and waits. For an inactive
// unit it is a no-op that succeeds: an idle on-demand app picks up its new
// configuration at its next start.
func (c *Conn) TryRestart(ctx context.Context, unit string) error {
	return c.job(ctx, opTryRestart, unit)
}

// job enqueues op on unit and waits for its JobRemoved result, ctx's end or
// the loss of the connection, whichever comes first. When ctx ends first the
// job stays queued in systemd: it is not canceled.
func (c *Conn) job(ctx context.Context, op jobOp, unit string) error {
	if unit == "" {
		return fmt.Errorf("%s: empty unit name", op.name)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", op.name, unit, err)
	}
	// Buffered: go-systemd sends the result while holding its listener lock,
	// and an unread unbuffered channel would block all job tracking (upstream
	// issue 429). With capacity 1 an abandoned waiter costs nothing.
	ch := make(chan string, 1)
	id, err := op.enqueue(c.sd, ctx, unit, jobMode, ch)
	if err != nil {
		if op.notLoadedOK && IsNoSuchUnit(err) {
			return nil
		}
		return opError(op.name, unit, err)
	}
	var stopped error
	select {
	case result := <-ch:
		return jobResult(op, unit, id, result)
	case <-ctx.Done():
		stopped = fmt.Errorf("%s %s: stopped waiting for job %d (it stays queued in systemd): %w", op.name, unit, id, ctx.Err())
	case <-c.bus.Context().Done():
		stopped = fmt.Errorf("%s %s: connection to systemd lost while waiting for job %d", op.name, unit, id)
	case <-c.sig.Context().Done():
		stopped = fmt.Errorf("%s %s: connection to systemd lost while waiting for job %d", op.name, unit, id)
	}
	select {
	case result := <-ch: // finished at the same moment: report the result
		return jobResult(op, unit, id, result)
	default:
		return stopped
	}
}

func jobResult(op jobOp, unit string, id int, result string) error {
	if result == "done" {
		return nil
	}
	return &JobError{Unit: unit, Op: op.name, Result: result, JobID: id}
}
