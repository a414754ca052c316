package dbus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	godbus "github.com/godbus/dbus/v5"
)

// UnitInfo is what `ehecoatl status` shows of one unit. Fields that do not
// apply to the unit's type, and the type-specific fields of an inactive unit,
// are zero; counters systemd does not know are nil.
type UnitInfo struct {
	Name string
	Type string // from the name's suffix: "service", "socket", "slice", ...

	// From org.freedesktop.systemd1.Unit.
	Description      string
	LoadState        string // loaded, not-found, bad-setting, error, masked
	ActiveState      string // active, reloading, inactive, failed, activating, deactivating
	SubState         string // type-specific: running, listening, dead, exited, failed, ...
	UnitFileState    string // "generated" for units from ehecoatl-generator
	FragmentPath     string // the unit file systemd loaded
	SourcePath       string // the file a generator made it from, if it says so
	DropInPaths      []string
	NeedDaemonReload bool      // the file on disk changed since systemd loaded it
	Since            time.Time // last change of ActiveState (StateChangeTimestamp); zero if never
	ActiveEnter      time.Time // last entry into active (ActiveEnterTimestamp); zero if never
	InactiveEnter    time.Time // last entry into inactive or failed (InactiveEnterTimestamp); zero if never
	Triggers         []string  // for a socket: the service it activates
	TriggeredBy      []string  // for a service: its socket

	// Services and sockets: the outcome of the last run ("success",
	// "exit-code", "signal", "timeout", "start-limit-hit", "trigger-limit-hit", ...).
	Result string

	// Services.
	MainPID        uint32 // 0 when no main process runs
	NRestarts      uint32 // automatic restarts (Restart=) since the last manual start
	ExecMainCode   int32  // how the main process ended: 1 exited, 2 killed, 3 dumped core; 0 not yet
	ExecMainStatus int32  // its exit status, or the signal number when killed

	// Services, sockets, slices and scopes (units with a cgroup). nil when
	// systemd does not know (accounting off, unit stopped, no cgroup v2).
	MemoryCurrent *uint64        // bytes
	CPUUsage      *time.Duration // CPUUsageNSec
	TasksCurrent  *uint64

	// Sockets.
	NAccepted    uint32 // connections accepted since the socket started (Accept=yes only)
	NConnections uint32 // connections open right now (Accept=yes only)
}

// typeIfaces are the unit types whose type-specific interface UnitInfo reads.
var typeIfaces = map[string]string{
	"service": "org.freedesktop.systemd1.Service",
	"socket":  "org.freedesktop.systemd1.Socket",
	"slice":   "org.freedesktop.systemd1.Slice",
	"scope":   "org.freedesktop.systemd1.Scope",
}

const unitIface = "org.freedesktop.systemd1.Unit"

// Unit reads the properties of one unit: one GetAll for the Unit interface and,
// unless the unit is inactive, one for its type's interface (services,
// sockets, slices, scopes). A unit systemd does not know is reported with
// LoadState "not-found", not an error. Each call costs systemd about 1 ms:
// for the states of many units, ListUnits is far cheaper (one call).
func (c *Conn) Unit(ctx context.Context, name string) (*UnitInfo, error) {
	if name == "" {
		return nil, errors.New("read unit properties: empty unit name")
	}
	obj := c.bus.Object(systemdDest, unitPath(name))
	var up map[string]godbus.Variant
	if err := obj.CallWithContext(ctx, propsGetAll, 0, unitIface).Store(&up); err != nil {
		return nil, opError("read properties of", name, err)
	}
	u := props(up)
	info := &UnitInfo{
		Name:             name,
		Type:             unitType(name),
		Description:      u.str("Description"),
		LoadState:        u.str("LoadState"),
		ActiveState:      u.str("ActiveState"),
		SubState:         u.str("SubState"),
		UnitFileState:    u.str("UnitFileState"),
		FragmentPath:     u.str("FragmentPath"),
		SourcePath:       u.str("SourcePath"),
		DropInPaths:      u.strs("DropInPaths"),
		NeedDaemonReload: u.boolean("NeedDaemonReload"),
		Since:            u.timestamp("StateChangeTimestamp"),
		ActiveEnter:      u.timestamp("ActiveEnterTimestamp"),
		InactiveEnter:    u.timestamp("InactiveEnterTimestamp"),
		Triggers:         u.strs("Triggers"),
		TriggeredBy:      u.strs("TriggeredBy"),
	}
	iface, ok := typeIfaces[info.Type]
	if !ok || info.LoadState == "not-found" || info.ActiveState == "inactive" {
		// An inactive unit has no process, cgroup or failure to report, and
		// skipping the second call halves the cost for idle apps (a GetAll of
		// a Service is about 300 properties).
		return info, nil
	}
	var tp map[string]godbus.Variant
	if err := obj.CallWithContext(ctx, propsGetAll, 0, iface).Store(&tp); err != nil {
		return nil, opError("read properties of", name, err)
	}
	t := props(tp)
	info.Result = t.str("Result")
	info.MainPID = t.u32("MainPID")
	info.NRestarts = t.u32("NRestarts")
	info.ExecMainCode = t.i32("ExecMainCode")
	info.ExecMainStatus = t.i32("ExecMainStatus")
	info.MemoryCurrent = t.u64("MemoryCurrent")
	info.CPUUsage = t.nsec("CPUUsageNSec")
	info.TasksCurrent = t.u64("TasksCurrent")
	info.NAccepted = t.u32("NAccepted")
	info.NConnections = t.u32("NConnections")
	return info, nil
}

// unitsInFlight bounds concurrent property reads in Units.
const unitsInFlight = 16

// Units reads many units concurrently. The result has one entry per name, in
// order; on error, the entries that could not be read are nil and the error
// joins one error per such unit.
func (c *Conn) Units(ctx context.Context, names []string) ([]*UnitInfo, error) {
	infos := make([]*UnitInfo, len(names))
	err := eachUnit(names, func(i int, name string) (err error) {
		infos[i], err = c.Unit(ctx, name)
		return err
	})
	return infos, err
}

// eachUnit calls read for every name, at most unitsInFlight at a time, and
// joins the errors in name order.
func eachUnit(names []string, read func(i int, name string) error) error {
	errs := make([]error, len(names))
	sem := make(chan struct{}, unitsInFlight)
	var wg sync.WaitGroup
	for i, name := range names {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = read(i, name)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// unitType is the suffix of a unit name: "service" for "a-b.service".
func unitType(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i+1:]
	}
	return ""
}

// unitPath is systemd's object path of a unit: every byte outside [A-Za-z0-9]
// (and a leading digit) becomes _XX, as sd_bus_path_encode does. Not
// go-systemd's PathBusEscape: it writes bytes below 0x10 as one hex digit.
func unitPath(name string) godbus.ObjectPath {
	var b strings.Builder
	b.WriteString("/org/freedesktop/systemd1/unit/")
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' && i > 0 {
			b.WriteByte(ch)
		} else {
			fmt.Fprintf(&b, "_%02x", ch)
		}
	}
	return godbus.ObjectPath(b.String())
}

// StateSince reads only StateChangeTimestamp of many units, concurrently:
// for a status listing of thousands of idle units this is far cheaper than
// Units (one small property instead of one or two GetAll calls each). The
// result has one entry per name, zero when unknown.
func (c *Conn) StateSince(ctx context.Context, names []string) ([]time.Time, error) {
	out := make([]time.Time, len(names))
	err := eachUnit(names, func(i int, name string) error {
		var v godbus.Variant
		err := c.bus.Object(systemdDest, unitPath(name)).CallWithContext(ctx, propsGet, 0, unitIface, "StateChangeTimestamp").Store(&v)
		if err != nil {
			return opError("read properties of", name, err)
		}
		out[i] = props(map[string]godbus.Variant{"t": v}).timestamp("t")
		return nil
	})
	return out, err
}
