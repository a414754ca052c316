package usage

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/ehecoatl/ehecoatl/dbus"
	"github.com/ehecoatl/ehecoatl/naming"
)

// Systemd is what usage asks systemd; *dbus.Client and *dbus.Conn satisfy
// it.
type Systemd interface {
	ListUnitsIn(ctx context.Context, states []string, patterns ...string) ([]dbus.UnitStatus, error)
	ServiceCounters(ctx context.Context, names []string, ip []bool) ([]dbus.ServiceCounters, error)
}

var (
	_ Systemd = (*dbus.Client)(nil)
	_ Systemd = (*dbus.Conn)(nil)
)

// Figures are one target's reading.
type Figures struct {
	Target
	// Loaded: systemd has the unit in memory. It does not load a unit
	// nothing refers to (an app's second slot before its first rollout,
	// a tenant's slice before its first service starts).
	Loaded bool
	// ActiveState is systemd's: active, reloading, inactive, failed,
	// activating, deactivating; "inactive" for a unit not loaded.
	ActiveState string
	// Restarts is NRestarts of a loaded service (it outlives the run, so
	// an idle or failed app has it too); nil for slices.
	Restarts *uint32
	// IPIngressBytes and IPEgressBytes: a service with a cgroup and
	// IPAccounting=yes.
	IPIngressBytes, IPEgressBytes *uint64
	// Cgroup is nil when the unit has no cgroup (not running).
	Cgroup *Cgroup
}

// unitPatterns select the units usage reads the states of: services and
// slices, not the thousands of sockets.
var unitPatterns = []string{"ehecoatl-*.service", "ehecoatl-*.slice"}

// Read reads every target: the states of all in one ListUnitsByPatterns,
// then at once the restarts (and IP bytes of the running) over D-Bus and
// the cgroups of the running from the cgroup file system below root
// (DefaultCgroupRoot). The result has one entry per target, in order. An
// error of systemd's list fails the reading; the error of a unit's figure
// or file leaves that figure out and is joined into the returned error
// beside the figures.
func Read(ctx context.Context, sd Systemd, root string, targets []Target) ([]Figures, error) {
	list, err := sd.ListUnitsIn(ctx, nil, unitPatterns...)
	if err != nil {
		return nil, fmt.Errorf("usage: %w", err)
	}
	states := make(map[string]string, len(list))
	for _, u := range list {
		if u.LoadState == "loaded" {
			states[u.Name] = u.ActiveState
		}
	}
	out := make([]Figures, len(targets))
	var svcs []string
	var svcIdx []int
	var ip []bool
	var cgIdx []int
	for i, t := range targets {
		st, loaded := states[t.Unit]
		if !loaded {
			st = "inactive"
		}
		out[i] = Figures{Target: t, Loaded: loaded, ActiveState: st}
		running := hasCgroup(st)
		if loaded && t.Kind() == "service" {
			svcs, svcIdx, ip = append(svcs, t.Unit), append(svcIdx, i), append(ip, running)
		}
		if running {
			cgIdx = append(cgIdx, i)
		}
	}

	var wg sync.WaitGroup
	var sdErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		if len(svcs) == 0 {
			return
		}
		counters, err := sd.ServiceCounters(ctx, svcs, ip)
		sdErr = err
		for j, c := range counters {
			f := &out[svcIdx[j]]
			f.Restarts, f.IPIngressBytes, f.IPEgressBytes = c.NRestarts, c.IPIngressBytes, c.IPEgressBytes
		}
	}()
	cgErr := readCgroups(root, out, cgIdx)
	wg.Wait()
	if err := errors.Join(sdErr, cgErr); err != nil {
		return out, fmt.Errorf("usage: %w", err)
	}
	return out, nil
}

// hasCgroup: systemd creates a unit's cgroup when it starts and removes
// it once it is inactive or failed.
func hasCgroup(state string) bool {
	switch state {
	case "active", "reloading", "activating", "deactivating":
		return true
	}
	return false
}

// readCgroups reads the cgroups of out[idx...] with as many readers as
// the process may run threads (the files are cheap, the opens are not:
// the kernel's path walk is most of their cost).
func readCgroups(root string, out []Figures, idx []int) error {
	n := min(runtime.GOMAXPROCS(0), 4, (len(idx)+63)/64)
	if n == 0 {
		return nil
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := newReader()
			for k := w; k < len(idx); k += n {
				f := &out[idx[k]]
				cg, err := r.read(filepath.Join(root, naming.ControlGroup(f.Tenant, f.Unit)))
				if err != nil {
					errs[w] = errors.Join(errs[w], err)
					continue
				}
				f.Cgroup = cg
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
