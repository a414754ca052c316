package usage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
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
	return (&Reader{Systemd: sd, Root: root}).Read(ctx, targets)
}

// RefreshPerRead is how many inactive services' restarts a Reader reads
// again at each reading, oldest first: at 1,000 tenants (3,000 services)
// and a scrape every 15 s, each is read again within 8 minutes.
const RefreshPerRead = 100

// Reader reads as Read does, and keeps the restarts of the services it
// found inactive: NRestarts changes only while a service runs, so an
// inactive one's is the value read when it was last seen, and is not
// asked again (a Get costs systemd, dbus-daemon and godbus about 100 us
// together; the restarts of 3,000 idle services were 300 ms of a
// 400 ms scrape in a booted systemd). A service that ran and stopped
// again between two readings keeps its old value until RefreshPerRead
// reaches it. The first reading reads all. One reading at a time.
type Reader struct {
	Systemd Systemd
	Root    string

	inactive map[string]kept // restarts of services last seen inactive
	tick     uint64          // readings so far
}

type kept struct {
	restarts uint32
	read     uint64 // the reading that read it
}

// Read reads every target (see the package's Read).
func (r *Reader) Read(ctx context.Context, targets []Target) ([]Figures, error) {
	r.tick++
	list, err := r.Systemd.ListUnitsIn(ctx, nil, unitPatterns...)
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
	var stale []int // inactive services with a kept value, to refresh
	for i, t := range targets {
		st, loaded := states[t.Unit]
		if !loaded {
			st = "inactive"
		}
		out[i] = Figures{Target: t, Loaded: loaded, ActiveState: st}
		running := hasCgroup(st)
		if running {
			cgIdx = append(cgIdx, i)
		}
		if !loaded || t.Kind() != "service" {
			continue
		}
		if k, ok := r.inactive[t.Unit]; ok && st == "inactive" {
			n := k.restarts
			out[i].Restarts = &n
			stale = append(stale, i)
			continue
		}
		svcs, svcIdx, ip = append(svcs, t.Unit), append(svcIdx, i), append(ip, running)
	}
	slices.SortStableFunc(stale, func(a, b int) int {
		return cmp.Compare(r.inactive[out[a].Unit].read, r.inactive[out[b].Unit].read)
	})
	for _, i := range stale[:min(len(stale), RefreshPerRead)] {
		svcs, svcIdx, ip = append(svcs, out[i].Unit), append(svcIdx, i), append(ip, false)
	}

	var wg sync.WaitGroup
	var sdErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		if len(svcs) == 0 {
			return
		}
		counters, err := r.Systemd.ServiceCounters(ctx, svcs, ip)
		sdErr = err
		for j, c := range counters {
			f := &out[svcIdx[j]]
			f.Restarts = c.NRestarts
			f.IPIngressBytes, f.IPEgressBytes = c.IPIngressBytes, c.IPEgressBytes
		}
	}()
	cgErr := readCgroups(r.Root, out, cgIdx)
	wg.Wait()
	r.keep(out, svcIdx)
	if err := errors.Join(sdErr, cgErr); err != nil {
		return out, fmt.Errorf("usage: %w", err)
	}
	return out, nil
}

// keep remembers the restarts of the services read this time that are
// inactive, and forgets those that are not (or are gone).
func (r *Reader) keep(out []Figures, read []int) {
	next := make(map[string]kept, len(r.inactive))
	for _, f := range out {
		if k, ok := r.inactive[f.Unit]; ok && f.ActiveState == "inactive" && f.Loaded {
			next[f.Unit] = k
		}
	}
	for _, i := range read {
		f := &out[i]
		if f.ActiveState == "inactive" && f.Restarts != nil {
			next[f.Unit] = kept{restarts: *f.Restarts, read: r.tick}
		} else {
			delete(next, f.Unit)
		}
	}
	r.inactive = next
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
