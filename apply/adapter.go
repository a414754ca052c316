package apply

import (
	"context"

	"github.com/ehecoatl/ehecoatl/dbus"
)

// Adapter drives a real systemd over D-Bus.
type Adapter struct{ Conn *dbus.Conn }

var _ Systemd = Adapter{}

func (a Adapter) Reload(ctx context.Context) error { return a.Conn.Reload(ctx) }

func (a Adapter) StartMany(ctx context.Context, u []string) error { return a.Conn.StartMany(ctx, u) }

// StopMany ignores units systemd no longer knows: stopping what is gone is
// what apply wanted anyway.
func (a Adapter) StopMany(ctx context.Context, u []string) error {
	loaded, err := a.Conn.ListUnits(ctx, u...)
	if err != nil {
		return err
	}
	var stop []string
	for _, s := range loaded {
		if s.ActiveState != "inactive" {
			stop = append(stop, s.Name)
		}
	}
	return a.Conn.StopMany(ctx, stop)
}

func (a Adapter) TryRestartMany(ctx context.Context, u []string) error {
	return a.Conn.TryRestartMany(ctx, u)
}

func (a Adapter) ActiveUnits(ctx context.Context, patterns ...string) (map[string]bool, error) {
	l, err := a.Conn.ListUnits(ctx, patterns...)
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

func (a Adapter) ReloadIfActive(ctx context.Context, unit string) (bool, error) {
	active, err := a.ActiveUnits(ctx, unit)
	if err != nil || !active[unit] {
		return false, err
	}
	return true, a.Conn.ReloadUnit(ctx, unit)
}
