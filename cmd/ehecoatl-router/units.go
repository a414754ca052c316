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
