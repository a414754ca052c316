package apply

import (
	"context"
	"errors"
	"sync"

	"github.com/ehecoatl/ehecoatl/dbus"
)

// Adapter drives a real systemd over D-Bus. It connects on first use, so
// that validating a directory (which fails before any systemd call when it
// is invalid) needs no systemd and costs no connection.
type Adapter struct {
	mu   sync.Mutex
	conn *dbus.Conn
}

var _ Systemd = (*Adapter)(nil)

func (a *Adapter) c(ctx context.Context) (*dbus.Conn, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn == nil {
		c, err := dbus.Connect(ctx)
		if err != nil {
			return nil, err
		}
		a.conn = c
	}
	return a.conn, nil
}

// Close closes the connection, if one was made.
func (a *Adapter) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn != nil {
		a.conn.Close()
		a.conn = nil
	}
}

func (a *Adapter) Reload(ctx context.Context) error {
	c, err := a.c(ctx)
	if err != nil {
		return err
	}
	return c.Reload(ctx)
}

func (a *Adapter) StartMany(ctx context.Context, u []string) error {
	c, err := a.c(ctx)
	if err != nil {
		return err
	}
	return c.StartMany(ctx, u)
}

// StopMany ignores units systemd no longer knows or that are already
// stopped: stopping what is gone is what apply wanted anyway.
func (a *Adapter) StopMany(ctx context.Context, u []string) error {
	c, err := a.c(ctx)
	if err != nil {
		return err
	}
	loaded, err := c.ListUnits(ctx, u...)
	if err != nil {
		return err
	}
	var stop []string
	for _, s := range loaded {
		if s.ActiveState != "inactive" {
			stop = append(stop, s.Name)
		}
	}
	return c.StopMany(ctx, stop)
}

func (a *Adapter) TryRestartMany(ctx context.Context, u []string) error {
	c, err := a.c(ctx)
	if err != nil {
		return err
	}
	return c.TryRestartMany(ctx, u)
}

func (a *Adapter) ActiveUnits(ctx context.Context, patterns ...string) (map[string]bool, error) {
	c, err := a.c(ctx)
	if err != nil {
		return nil, err
	}
	l, err := c.ListUnits(ctx, patterns...)
	if err != nil {
		return nil, err
	}
	m := map[string]bool{}
	for _, s := range l {
		switch s.ActiveState {
		case "active", "activating", "reloading":
			m[s.Name] = true
		}
	}
	return m, nil
}

func (a *Adapter) FailedUnits(ctx context.Context, patterns ...string) ([]string, error) {
	c, err := a.c(ctx)
	if err != nil {
		return nil, err
	}
	l, err := c.ListUnits(ctx, patterns...)
	if err != nil {
		return nil, err
	}
	var failed []string
	for _, s := range l {
		if s.ActiveState == "failed" {
			failed = append(failed, s.Name)
		}
	}
	return failed, nil
}

func (a *Adapter) ResetFailed(ctx context.Context, units []string) error {
	c, err := a.c(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, u := range units {
		if err := c.ResetFailed(ctx, u); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (a *Adapter) ReloadIfActive(ctx context.Context, unit string) (bool, error) {
	active, err := a.ActiveUnits(ctx, unit)
	if err != nil || !active[unit] {
		return false, err
	}
	c, err := a.c(ctx)
	if err != nil {
		return false, err
	}
	return true, c.ReloadUnit(ctx, unit)
}
