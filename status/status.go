// Package status turns systemd's view of a tenant's units into what an
// operator asks: is the app running, idle (listening, costing nothing),
// stopped or failed, since when, and what does it use.
package status

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ehecoatl/ehecoatl/dbus"
	"github.com/ehecoatl/ehecoatl/health"
	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/naming"
	"github.com/ehecoatl/ehecoatl/tlsstate"
)

// States of an app, from the most to the least alarming.
const (
	Failed   = "failed"   // a unit failed; the app is not served until fixed or restarted
	Starting = "starting" // a unit is activating or deactivating
	Running  = "running"  // the app's service runs
	Idle     = "idle"     // the socket listens; the first request starts the app
	Stopped  = "stopped"  // nothing listens (ehecoatl stop, or never started)
	// Suspended: nothing listens, as its manifest says (suspended: true).
	Suspended = "suspended"
)

// App is one row of `ehecoatl status`.
type App struct {
	Tenant string `json:"tenant"`
	App    string `json:"app"`
	State  string `json:"state"`
	// Since is when the deciding unit entered its state.
	Since *time.Time `json:"since,omitempty"`
	// MemoryBytes, CPU and Tasks sum the app's services; nil when systemd
	// does not account them (stopped, or no cgroup v2 accounting).
	MemoryBytes *uint64        `json:"memory_bytes,omitempty"`
	CPU         *time.Duration `json:"cpu_nsec,omitempty"`
	Tasks       *uint64        `json:"tasks,omitempty"`
	// Restarts counts automatic restarts (Restart=) of its services.
	Restarts uint32   `json:"restarts"`
	Domains  []string `json:"domains"`
	// LastError says why the app failed: Reason, then "; last line: "
	// and LastLine (either alone when the other is empty).
	LastError string `json:"last_error,omitempty"`
	// StoppedBy and StoppedSince: the operator's stop that holds the app
	// (ehecoatl stop; AttachHolds).
	// StoppedTarget is what was stopped: the tenant, or tenant/app.
	StoppedBy     string     `json:"stopped_by,omitempty"`
	StoppedSince  *time.Time `json:"stopped_since,omitempty"`
	StoppedTarget string     `json:"stopped_target,omitempty"`
	// SuspendedIn is the manifest that suspends the app's tenant.
	SuspendedIn string `json:"suspended_in,omitempty"`
	// Reason is systemd's (Reason): exit status, signal, OOM kill, start
	// limit hit.
	Reason string `json:"reason,omitempty"`
	// LastLine is the last journal line of the failed service.
	LastLine string `json:"last_line,omitempty"`
	Units    []Unit `json:"units"`
	// Certificates are the router's certificates of the app's domains
	// served over HTTPS (AttachCertificates).
	Certificates []tlsstate.Domain `json:"certificates,omitempty"`
	// Instances are the router's view of the app's instances: up or
	// down, since when and why (AttachHealth).
	Instances []health.Instance `json:"instances,omitempty"`
	// Usage is what the app's services used since they started, from
	// their cgroups and systemd (AttachUsage; status --json only).
	Usage *AppUsage `json:"usage,omitempty"`
}

// AttachCertificates gives each row the router's certificates of its
// domains, from the record the router keeps (package tlsstate).
func AttachCertificates(rows []App, rec tlsstate.Record) {
	by := rec.ByDomain()
	for i := range rows {
		for _, d := range rows[i].Domains {
			if c, ok := by[d]; ok && c.Tenant == rows[i].Tenant {
				rows[i].Certificates = append(rows[i].Certificates, c)
			}
		}
	}
}

// HTTPS sums up an app's certificates for a table cell: the worst state
// first ("failed", "pending"), else "valid Nd" for the soonest expiry;
// "-" without any.
func (a App) HTTPS(now time.Time) string {
	if len(a.Certificates) == 0 {
		return "-"
	}
	soonest := -1
	for _, c := range a.Certificates {
		switch {
		case strings.HasPrefix(c.State, "failed"):
			return "failed"
		case c.State != "valid" || c.NotAfter == nil:
			return c.State
		}
		if d := int(c.NotAfter.Sub(now).Hours() / 24); soonest < 0 || d < soonest {
			soonest = d
		}
	}
	return fmt.Sprintf("valid %dd", soonest)
}

// Unit is the systemd state of one of an app's units.
type Unit struct {
	Name        string `json:"name"`
	ActiveState string `json:"active_state"`
	SubState    string `json:"sub_state"`
	Result      string `json:"result,omitempty"`
	MainPID     uint32 `json:"main_pid,omitempty"`
}

// Source is what status reads systemd through; *dbus.Client satisfies it.
type Source interface {
	ListUnits(ctx context.Context, patterns ...string) ([]dbus.UnitStatus, error)
	Units(ctx context.Context, names []string) ([]*dbus.UnitInfo, error)
	StateSince(ctx context.Context, names []string) ([]time.Time, error)
}

var (
	_ Source = (*dbus.Conn)(nil)
	_ Source = (*dbus.Client)(nil)
)

// LastLine returns the last journal line of a unit's own output.
type LastLine func(ctx context.Context, unit string) string

// Collect reports every app of the set, or of one tenant when tenant != "".
func Collect(ctx context.Context, set *manifest.Set, src Source, tenant string, last LastLine) ([]App, error) {
	var apps []*manifest.App
	var names []string
	for _, t := range set.Tenants {
		if tenant != "" && t.Name != tenant {
			continue
		}
		for _, a := range t.Apps {
			apps = append(apps, a)
			n := appUnits(a)
			names = append(names, n.Sockets...)
			names = append(names, n.Services...)
		}
	}
	byName, err := unitInfos(ctx, src, names)
	if err != nil {
		return nil, err
	}
	rows := make([]App, 0, len(apps))
	for _, a := range apps {
		n := appUnits(a)
		row := summarize(a, n, byName)
		if row.State == Failed {
			all := append(append([]string{}, n.Services...), n.Sockets...)
			infos := make([]*dbus.UnitInfo, 0, len(all))
			for _, u := range all {
				infos = append(infos, byName[u])
			}
			row.Reason = Reason(infos)
			// The app's own last words are in its service's journal; a
			// failed socket has none of its own.
			for _, u := range all {
				if last != nil && byName[u] != nil && byName[u].ActiveState == "failed" {
					if row.LastLine = last(ctx, u); row.LastLine != "" {
						break
					}
				}
			}
			row.LastError = row.Reason
			switch {
			case row.Reason == "":
				row.LastError = row.LastLine
			case row.LastLine != "":
				row.LastError += "; last line: " + row.LastLine
			}
		}
		rows = append(rows, row)
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Tenant != rows[j].Tenant {
			return rows[i].Tenant < rows[j].Tenant
		}
		return rows[i].App < rows[j].App
	})
	return rows, nil
}

// appUnits are the units of an app, as the generator names them.
func appUnits(a *manifest.App) naming.Units {
	return a.Names().Units("")
}

func summarize(a *manifest.App, n naming.Units, units map[string]*dbus.UnitInfo) App {
	row := App{Tenant: a.Tenant, App: a.Name, Domains: a.Domains}
	if row.Domains == nil {
		row.Domains = []string{}
	}
	get := func(name string) *dbus.UnitInfo {
		if u := units[name]; u != nil {
			return u
		}
		return &dbus.UnitInfo{Name: name, ActiveState: "inactive", SubState: "dead"}
	}
	var failed, transient, running, listening bool
	var since time.Time
	mark := func(u *dbus.UnitInfo) {
		if !u.Since.IsZero() && (since.IsZero() || u.Since.After(since)) {
			since = u.Since
		}
	}
	for _, s := range n.Sockets {
		u := get(s)
		row.Units = append(row.Units, Unit{Name: u.Name, ActiveState: u.ActiveState, SubState: u.SubState, Result: nonSuccess(u.Result)})
		switch u.ActiveState {
		case "failed":
			failed = true
		case "active":
			listening = true
		case "activating", "deactivating", "reloading":
			transient = true
		}
	}
	var svcSince time.Time
	for _, s := range n.Services {
		u := get(s)
		row.Units = append(row.Units, Unit{Name: u.Name, ActiveState: u.ActiveState, SubState: u.SubState, Result: nonSuccess(u.Result), MainPID: u.MainPID})
		row.Restarts += u.NRestarts
		row.MemoryBytes = addU(row.MemoryBytes, u.MemoryCurrent)
		row.Tasks = addU(row.Tasks, u.TasksCurrent)
		if u.CPUUsage != nil {
			d := *u.CPUUsage
			if row.CPU != nil {
				d += *row.CPU
			}
			row.CPU = &d
		}
		switch u.ActiveState {
		case "failed":
			failed = true
			mark(u)
		case "active", "reloading":
			running = true
			if svcSince.IsZero() || u.Since.Before(svcSince) {
				svcSince = u.Since
			}
		case "activating", "deactivating":
			transient = true
			mark(u)
		}
	}
	switch {
	case failed:
		row.State = Failed
	case transient:
		row.State = Starting
	case running:
		row.State = Running
		since = svcSince
	case listening:
		row.State = Idle
		for _, s := range n.Sockets {
			mark(get(s))
		}
	default:
		row.State = Stopped
		for _, s := range append(append([]string{}, n.Sockets...), n.Services...) {
			mark(get(s))
		}
	}
	if !since.IsZero() {
		row.Since = &since
	}
	return row
}

func nonSuccess(r string) string {
	if r == "success" {
		return ""
	}
	return r
}

func addU(sum, v *uint64) *uint64 {
	if v == nil {
		return sum
	}
	x := *v
	if sum != nil {
		x += *sum
	}
	return &x
}

// unitInfos reads what status shows of each unit at the least cost: the
// states of all units in one ListUnits call, full properties only of units
// that run or failed (processes, memory, restarts, results), and only the
// time of the last state change of the others — on a host of thousands of
// idle apps that is most units. Units systemd has not loaded are absent.
func unitInfos(ctx context.Context, src Source, names []string) (map[string]*dbus.UnitInfo, error) {
	list, err := src.ListUnits(ctx, "ehecoatl-*")
	if err != nil {
		return nil, err
	}
	states := make(map[string]dbus.UnitStatus, len(list))
	for _, u := range list {
		states[u.Name] = u
	}
	var detail, light []string
	for _, n := range names {
		st, ok := states[n]
		switch {
		case !ok:
		case st.ActiveState == "failed" || strings.HasSuffix(n, ".service") && st.ActiveState != "inactive":
			detail = append(detail, n)
		default:
			light = append(light, n)
		}
	}
	infos, err := src.Units(ctx, detail)
	if err != nil {
		return nil, err
	}
	since, err := src.StateSince(ctx, light)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*dbus.UnitInfo, len(names))
	for _, u := range infos {
		if u != nil {
			out[u.Name] = u
		}
	}
	for i, n := range light {
		st := states[n]
		out[n] = &dbus.UnitInfo{Name: n, LoadState: st.LoadState, ActiveState: st.ActiveState, SubState: st.SubState, Since: since[i]}
	}
	return out, nil
}
