package dbus

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// manyInFlight bounds the jobs the *Many calls wait for at once. systemd
// runs jobs in parallel but handles bus calls one at a time; 32 keeps its
// queue busy without flooding it when apply starts thousands of units.
const manyInFlight = 32

// StartMany starts units concurrently (at most 32 jobs in flight) and waits
// for all of them. The error joins one error per failed unit, in input order.
func (c *Conn) StartMany(ctx context.Context, units []string) error {
	return c.many(ctx, opStart, units)
}

// StopMany is StartMany for Stop; units that are not loaded count as stopped.
func (c *Conn) StopMany(ctx context.Context, units []string) error {
	return c.many(ctx, opStop, units)
}

// RestartMany is StartMany for Restart.
func (c *Conn) RestartMany(ctx context.Context, units []string) error {
	return c.many(ctx, opRestart, units)
}

// TryRestartMany is StartMany for TryRestart.
func (c *Conn) TryRestartMany(ctx context.Context, units []string) error {
	return c.many(ctx, opTryRestart, units)
}

// many runs op on every unit. Once ctx ends no further job is enqueued; the
// units never attempted are reported in one error rather than one each.
func (c *Conn) many(ctx context.Context, op jobOp, units []string) error {
	errs := make([]error, len(units))
	var notAttempted error
	sem := make(chan struct{}, manyInFlight)
	var wg sync.WaitGroup
	for i, u := range units {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			notAttempted = fmt.Errorf("%s: %d of %d units not attempted: %w", op.name, len(units)-i, len(units), ctx.Err())
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = c.job(ctx, op, u)
		}()
	}
	wg.Wait()
	return errors.Join(append(errs, notAttempted)...)
}
