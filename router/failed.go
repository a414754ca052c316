package router

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"
)

// UnitStates tells whether systemd gave up on any of an app's units: one
// of them is failed (a start limit hit, a failed socket; docs/DESIGN.md
// "Start limits"). In production it is one ListUnitsByPatterns call over
// D-Bus (package dbus), which needs no privilege.
type UnitStates interface {
	AnyFailed(ctx context.Context, units []string) (bool, error)
}

const (
	// failRecheck is how long a looked-up state is believed: a flood of
	// requests to a failed app costs one D-Bus call per second, and a
	// fixed app is believed failed for at most as long when its connect
	// still fails (once its socket listens, nothing is looked up).
	failRecheck = time.Second
	// failLookupTimeout bounds the lookup, which a request waits for.
	failLookupTimeout = 500 * time.Millisecond
	// failedRetryAfter is the Retry-After of the 503 for a failed app:
	// it stays failed until someone fixes or restarts it.
	failedRetryAfter = "10"
)

const failedBody = "503 Service Unavailable: the app failed to start\n"

// notThere reports whether err says the app did not take the request at
// all: the connect failed (its socket is gone or refuses; not a full
// backlog, which is overload), or a fresh connection ended before a byte
// of a response without timing out (systemd closed the socket with the
// connection queued in it).
func notThere(err error, fresh bool) bool {
	var de *errDial
	if errors.As(err, &de) {
		return !errors.Is(err, syscall.EAGAIN)
	}
	return fresh && !errors.Is(err, os.ErrDeadlineExceeded)
}

// gaveUp reports whether systemd gave up on a's units, from a lookup at
// most failRecheck old. It is asked only when a request could not reach
// the app (notThere), never on the way of a forwarded one.
func (rt *Router) gaveUp(a *appState) bool {
	if rt.cfg.Units == nil {
		return false
	}
	a.failMu.Lock()
	defer a.failMu.Unlock()
	if len(a.watch) == 0 {
		return false
	}
	if time.Since(a.failAt) < failRecheck {
		return a.failed
	}
	ctx, cancel := context.WithTimeout(context.Background(), failLookupTimeout)
	defer cancel()
	failed, err := rt.cfg.Units.AnyFailed(ctx, a.watch)
	if err != nil {
		rt.appLogf(a, "looking up the state of its units: %v", err)
		failed = false
	}
	a.failed, a.failAt = failed, time.Now()
	return failed
}
