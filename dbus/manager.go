package dbus

import (
	"context"
	"fmt"

	godbus "github.com/godbus/dbus/v5"
)

// Reload is `systemctl daemon-reload`: systemd reruns the generators and
// reloads all unit files. systemd answers the call only once the reload has
// finished, so units are current when Reload returns. With thousands of
// listening sockets this takes seconds: reload only when something changed.
func (c *Conn) Reload(ctx context.Context) error {
	if err := c.sd.ReloadContext(ctx); err != nil {
		return opError("daemon-reload", "", err)
	}
	return nil
}

// ResetFailed is `systemctl reset-failed UNIT`: it clears the failed state and
// the start-rate counters (start-limit-hit, trigger-limit-hit). A unit that is
// not loaded has nothing to reset; that is not an error.
func (c *Conn) ResetFailed(ctx context.Context, unit string) error {
	err := c.sd.ResetFailedUnitContext(ctx, unit)
	if err != nil && !IsNoSuchUnit(err) {
		return opError("reset-failed", unit, err)
	}
	return nil
}

// ManagerStats are counters of systemd's manager, e.g. for tests proving that
// an operation ran no job (NInstalledJobs unchanged).
type ManagerStats struct {
	Version        string // systemd version, e.g. "252.30-1~deb12u2"
	SystemState    string // as `systemctl is-system-running`: running, degraded, starting, ...
	NNames         uint32 // unit names loaded
	NFailedUnits   uint32 // units in the failed state
	NJobs          uint32 // jobs queued right now
	NInstalledJobs uint32 // jobs installed since boot; it never decreases
	NFailedJobs    uint32 // jobs that failed since boot
}

// ManagerStats reads the manager's counters in one call.
func (c *Conn) ManagerStats(ctx context.Context) (ManagerStats, error) {
	var all map[string]godbus.Variant
	err := c.bus.Object(systemdDest, systemdPath).CallWithContext(ctx, propsGetAll, 0, managerIface).Store(&all)
	if err != nil {
		return ManagerStats{}, fmt.Errorf("read systemd manager properties: %w", err)
	}
	p := props(all)
	return ManagerStats{
		Version:        p.str("Version"),
		SystemState:    p.str("SystemState"),
		NNames:         p.u32("NNames"),
		NFailedUnits:   p.u32("NFailedUnits"),
		NJobs:          p.u32("NJobs"),
		NInstalledJobs: p.u32("NInstalledJobs"),
		NFailedJobs:    p.u32("NFailedJobs"),
	}, nil
}
