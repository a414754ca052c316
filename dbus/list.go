package dbus

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// UnitStatus is one line of `systemctl list-units`.
type UnitStatus struct {
	Name        string
	Description string
	LoadState   string // loaded, not-found, bad-setting, error, masked
	ActiveState string // active, reloading, inactive, failed, activating, deactivating
	SubState    string // running, listening, dead, exited, failed, ...
	JobID       uint32 // the queued job for the unit; 0 when none
	JobType     string // that job's type ("start", "stop", ...); "" when none
}

// ListUnits returns the units systemd has in memory whose names match any of
// the shell glob patterns (e.g. "ehecoatl-acme-*"), sorted by name; no
// patterns means all. Like `systemctl list-units --all`, it includes inactive
// units that are loaded, but not unit files systemd has not loaded.
func (c *Conn) ListUnits(ctx context.Context, patterns ...string) ([]UnitStatus, error) {
	return c.ListUnitsIn(ctx, nil, patterns...)
}

// ListUnitsIn is ListUnits of the units in one of states (a load, active
// or sub state: "failed", "active"); nil means any. systemd filters, so
// asking for the few failed units of thousands sends only those.
func (c *Conn) ListUnitsIn(ctx context.Context, states []string, patterns ...string) ([]UnitStatus, error) {
	if patterns == nil {
		patterns = []string{}
	}
	if states == nil {
		states = []string{}
	}
	got, err := c.sd.ListUnitsByPatternsContext(ctx, states, patterns)
	if err != nil {
		return nil, opError("list units", strings.Join(patterns, " "), err)
	}
	out := make([]UnitStatus, 0, len(got))
	for _, u := range got {
		out = append(out, UnitStatus{
			Name:        u.Name,
			Description: u.Description,
			LoadState:   u.LoadState,
			ActiveState: u.ActiveState,
			SubState:    u.SubState,
			JobID:       u.JobId,
			JobType:     u.JobType,
		})
	}
	slices.SortFunc(out, func(a, b UnitStatus) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

var _ fmt.Stringer = UnitStatus{}

// String is "NAME ACTIVE/SUB", for logs and test failures.
func (u UnitStatus) String() string {
	return u.Name + " " + u.ActiveState + "/" + u.SubState
}
