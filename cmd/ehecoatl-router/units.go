package main

import (
	"context"

	"github.com/ehecoatl/ehecoatl/dbus"
)

// unitStates is router.UnitStates over the router's D-Bus client: one
// ListUnitsByPatterns call for an app's units. Reading unit states needs
// no polkit rule.
type unitStates struct{ c *dbus.Client }

func (s unitStates) AnyFailed(ctx context.Context, units []string) (bool, error) {
	l, err := s.c.ListUnits(ctx, units...)
	if err != nil {
		return false, err
	}
	for _, u := range l {
		if u.ActiveState == "failed" {
			return true, nil
		}
	}
	return false, nil
}

// Running says which of units are active (one ListUnitsByPatterns call;
// a unit systemd has not loaded is not).
func (s unitStates) Running(ctx context.Context, units []string) ([]bool, error) {
	l, err := s.c.ListUnits(ctx, units...)
	if err != nil {
		return nil, err
	}
	active := make(map[string]bool, len(l))
	for _, u := range l {
		active[u.Name] = u.ActiveState == "active" || u.ActiveState == "reloading"
	}
	out := make([]bool, len(units))
	for i, u := range units {
		out[i] = active[u]
	}
	return out, nil
}
