package usage

import (
	"context"
	"sync"
	"time"

	"github.com/ehecoatl/ehecoatl/internal/promtext"
)

// Options configure a Collector.
type Options struct {
	// Systemd is asked for states, restarts and IP bytes; the router's
	// *dbus.Client (the one it stops idle apps with) will do.
	Systemd Systemd
	// CgroupRoot is where cgroup v2 is mounted; "" means
	// DefaultCgroupRoot().
	CgroupRoot string
	// Timeout bounds one scrape's D-Bus calls; 0 means 5 s.
	Timeout time.Duration
	// OnError, when set, is told what a scrape could not read (systemd
	// unreachable, a unit's figure, a cgroup file); the scrape still
	// serves every figure it read, and none it could not.
	OnError func(error)
}

// unitStates are the ActiveStates ehecoatl_unit_state has a series of,
// as systemd_exporter's systemd_unit_state.
var unitStates = []string{"active", "activating", "deactivating", "inactive", "failed"}

// The families of docs/METRICS.md's "Usage" table.
var (
	fState    = promtext.Family{Name: "ehecoatl_unit_state", Help: "1 for the unit's current ActiveState, 0 for the others (as systemd_unit_state).", Type: promtext.Gauge}
	fTasks    = promtext.Family{Name: "ehecoatl_unit_tasks_current", Help: "Tasks (processes and threads) in the unit's cgroup (pids.current).", Type: promtext.Gauge}
	fTasksMax = promtext.Family{Name: "ehecoatl_unit_tasks_max", Help: "The unit's TasksMax= (pids.max); absent when unlimited.", Type: promtext.Gauge}
	fRestarts = promtext.Family{Name: "ehecoatl_service_restart_total", Help: "Automatic restarts of the service (systemd's NRestarts).", Type: promtext.Counter}
	fIPIn     = promtext.Family{Name: "ehecoatl_service_ip_ingress_bytes_total", Help: "IP bytes received by the service (IPAccounting=yes).", Type: promtext.Counter}
	fIPOut    = promtext.Family{Name: "ehecoatl_service_ip_egress_bytes_total", Help: "IP bytes sent by the service (IPAccounting=yes).", Type: promtext.Counter}
	fCPU      = promtext.Family{Name: "ehecoatl_unit_cpu_seconds_total", Help: "CPU time of the unit's cgroup (cpu.stat usage_usec).", Type: promtext.Counter}
	fQuota    = promtext.Family{Name: "ehecoatl_unit_cpu_quota_ratio", Help: "CPUQuota= as a fraction of one CPU (cpu.max); absent when unlimited.", Type: promtext.Gauge}
	fMem      = promtext.Family{Name: "ehecoatl_unit_memory_bytes", Help: "Memory of the unit's cgroup now (memory.current).", Type: promtext.Gauge}
	fPeak     = promtext.Family{Name: "ehecoatl_unit_memory_peak_bytes", Help: "The most memory the unit's cgroup used since it started (memory.peak).", Type: promtext.Gauge}
	fMemMax   = promtext.Family{Name: "ehecoatl_unit_memory_max_bytes", Help: "MemoryMax= (memory.max); absent when unlimited.", Type: promtext.Gauge}
	fIORead   = promtext.Family{Name: "ehecoatl_unit_io_read_bytes_total", Help: "Bytes read from block devices (io.stat rbytes).", Type: promtext.Counter}
	fIOWrite  = promtext.Family{Name: "ehecoatl_unit_io_write_bytes_total", Help: "Bytes written to block devices (io.stat wbytes).", Type: promtext.Counter}
)

// Collector writes the "Usage" metrics of docs/METRICS.md into a scrape.
type Collector struct {
	targets func() []Target
	opts    Options
	mu      sync.Mutex // one reading at a time (the Reader keeps state)
	reader  *Reader
}

// NewCollector returns the collector of docs/METRICS.md's "Usage" metrics
// of the units targets returns at each scrape (the router passes those
// of its current table: AppTargets of its apps). Every scrape reads them
// afresh (a Reader: only the restarts of inactive services are kept from
// scrape to scrape); nothing is sampled in between.
func NewCollector(targets func() []Target, opts Options) *Collector {
	root := opts.CgroupRoot
	if root == "" {
		root = DefaultCgroupRoot()
	}
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	return &Collector{targets: targets, opts: opts, reader: &Reader{Systemd: opts.Systemd, Root: root}}
}

// WriteMetrics reads the targets and writes their families, each
// family's series in the targets' order. As systemd_exporter, which lists
// the units systemd has loaded, a unit systemd has not loaded has no
// series; a figure that could not be read has none either (OnError is
// told why).
func (c *Collector) WriteMetrics(w *promtext.Writer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	defer cancel()
	figs, err := c.reader.Read(ctx, c.targets())
	if err != nil && c.opts.OnError != nil {
		c.opts.OnError(err)
	}
	loaded := figs[:0:0]
	for _, f := range figs {
		if f.Loaded {
			loaded = append(loaded, f)
		}
	}
	write(w, loaded)
}

func write(w *promtext.Writer, figs []Figures) {
	// Labels in name order, as a registry sorts them.
	unit := func(f *Figures, v float64) { w.Sample(v, "app", f.App, "name", f.Unit, "tenant", f.Tenant) }
	each := func(fam promtext.Family, v func(*Figures) *uint64, div float64) {
		w.Family(fam)
		for i := range figs {
			if p := v(&figs[i]); p != nil {
				unit(&figs[i], float64(*p)/div)
			}
		}
	}
	cg := func(v func(*Cgroup) *uint64) func(*Figures) *uint64 {
		return func(f *Figures) *uint64 {
			if f.Cgroup == nil {
				return nil
			}
			return v(f.Cgroup)
		}
	}

	w.Family(fState)
	for i := range figs {
		f := &figs[i]
		for _, s := range unitStates {
			v := 0.0
			if s == f.ActiveState {
				v = 1
			}
			w.Sample(v, "app", f.App, "name", f.Unit, "state", s, "tenant", f.Tenant, "type", f.Kind())
		}
	}
	w.Family(fRestarts)
	for i := range figs {
		if r := figs[i].Restarts; r != nil {
			unit(&figs[i], float64(*r))
		}
	}
	each(fIPIn, func(f *Figures) *uint64 { return f.IPIngressBytes }, 1)
	each(fIPOut, func(f *Figures) *uint64 { return f.IPEgressBytes }, 1)
	each(fTasks, cg(func(c *Cgroup) *uint64 { return c.Tasks }), 1)
	w.Family(fTasksMax)
	for i := range figs {
		if f := &figs[i]; f.Cgroup != nil && f.Cgroup.TasksMax != nil {
			w.Sample(float64(*f.Cgroup.TasksMax), "app", f.App, "name", f.Unit, "tenant", f.Tenant, "type", f.Kind())
		}
	}
	each(fCPU, cg(func(c *Cgroup) *uint64 { return c.CPUUsec }), 1e6) // seconds
	w.Family(fQuota)
	for i := range figs {
		if f := &figs[i]; f.Cgroup != nil && f.Cgroup.CPUQuota != nil {
			unit(f, *f.Cgroup.CPUQuota)
		}
	}
	each(fMem, cg(func(c *Cgroup) *uint64 { return c.MemoryBytes }), 1)
	each(fPeak, cg(func(c *Cgroup) *uint64 { return c.MemoryPeak }), 1)
	each(fMemMax, cg(func(c *Cgroup) *uint64 { return c.MemoryMax }), 1)
	each(fIORead, cg(func(c *Cgroup) *uint64 { return c.IOReadBytes }), 1)
	each(fIOWrite, cg(func(c *Cgroup) *uint64 { return c.IOWriteBytes }), 1)
}
