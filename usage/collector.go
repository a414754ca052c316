package usage

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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

// The descriptions of docs/METRICS.md's "Usage" table.
var (
	lUnit     = []string{"tenant", "app", "name"}
	lTyped    = []string{"tenant", "app", "name", "type"}
	descs     = []*prometheus.Desc{dState, dTasks, dTasksMax, dRestarts, dIPIn, dIPOut, dCPU, dQuota, dMem, dPeak, dMemMax, dIORead, dIOWrite}
	dState    = prometheus.NewDesc("ehecoatl_unit_state", "1 for the unit's current ActiveState, 0 for the others (as systemd_unit_state).", []string{"tenant", "app", "name", "type", "state"}, nil)
	dTasks    = prometheus.NewDesc("ehecoatl_unit_tasks_current", "Tasks (processes and threads) in the unit's cgroup (pids.current).", lUnit, nil)
	dTasksMax = prometheus.NewDesc("ehecoatl_unit_tasks_max", "The unit's TasksMax= (pids.max); absent when unlimited.", lTyped, nil)
	dRestarts = prometheus.NewDesc("ehecoatl_service_restart_total", "Automatic restarts of the service (systemd's NRestarts).", lUnit, nil)
	dIPIn     = prometheus.NewDesc("ehecoatl_service_ip_ingress_bytes_total", "IP bytes received by the service (IPAccounting=yes).", lUnit, nil)
	dIPOut    = prometheus.NewDesc("ehecoatl_service_ip_egress_bytes_total", "IP bytes sent by the service (IPAccounting=yes).", lUnit, nil)
	dCPU      = prometheus.NewDesc("ehecoatl_unit_cpu_seconds_total", "CPU time of the unit's cgroup (cpu.stat usage_usec).", lUnit, nil)
	dQuota    = prometheus.NewDesc("ehecoatl_unit_cpu_quota_ratio", "CPUQuota= as a fraction of one CPU (cpu.max); absent when unlimited.", lUnit, nil)
	dMem      = prometheus.NewDesc("ehecoatl_unit_memory_bytes", "Memory of the unit's cgroup now (memory.current).", lUnit, nil)
	dPeak     = prometheus.NewDesc("ehecoatl_unit_memory_peak_bytes", "The most memory the unit's cgroup used since it started (memory.peak).", lUnit, nil)
	dMemMax   = prometheus.NewDesc("ehecoatl_unit_memory_max_bytes", "MemoryMax= (memory.max); absent when unlimited.", lUnit, nil)
	dIORead   = prometheus.NewDesc("ehecoatl_unit_io_read_bytes_total", "Bytes read from block devices (io.stat rbytes).", lUnit, nil)
	dIOWrite  = prometheus.NewDesc("ehecoatl_unit_io_write_bytes_total", "Bytes written to block devices (io.stat wbytes).", lUnit, nil)
)

type collector struct {
	targets func() []Target
	opts    Options
	reader  *Reader

	// labels of the targets of the last scrape (Collect runs one scrape
	// at a time: the registry's Gather is called by one HTTP handler, and
	// mu keeps two from racing).
	mu     sync.Mutex
	labels map[Target]*labelSets
}

// NewCollector returns the collector of docs/METRICS.md's "Usage" metrics
// of the units targets returns at each scrape (the router passes those
// of its current table: AppTargets of its apps). Every scrape reads them
// afresh (a Reader: only the restarts of inactive services are kept from
// scrape to scrape); nothing is sampled in between.
func NewCollector(targets func() []Target, opts Options) prometheus.Collector {
	root := opts.CgroupRoot
	if root == "" {
		root = DefaultCgroupRoot()
	}
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	return &collector{targets: targets, opts: opts, reader: &Reader{Systemd: opts.Systemd, Root: root}, labels: map[Target]*labelSets{}}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range descs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	defer cancel()
	figs, err := c.reader.Read(ctx, c.targets())
	if err != nil && c.opts.OnError != nil {
		c.opts.OnError(err)
	}
	// Label pairs of the targets read, those of the last scrape kept: a
	// target gone with a reload is forgotten.
	labels := make(map[Target]*labelSets, len(figs))
	for i := range figs {
		f := &figs[i]
		// As systemd_exporter, which lists the units systemd has loaded:
		// one systemd has not loaded has no state to show.
		if !f.Loaded {
			continue
		}
		l := c.labels[f.Target]
		if l == nil {
			l = newLabelSets(f.Target)
		}
		labels[f.Target] = l
		emit(ch, f, l)
	}
	c.labels = labels
}

func emit(ch chan<- prometheus.Metric, f *Figures, l *labelSets) {
	for i, s := range unitStates {
		v := 0.0
		if s == f.ActiveState {
			v = 1
		}
		ch <- &metric{desc: dState, labels: l.states[i], value: v}
	}
	gauge := func(d *prometheus.Desc, v *uint64) {
		if v != nil {
			ch <- &metric{desc: d, labels: l.unit, value: float64(*v)}
		}
	}
	counter := func(d *prometheus.Desc, v *uint64) {
		if v != nil {
			ch <- &metric{desc: d, labels: l.unit, value: float64(*v), counter: true}
		}
	}
	if f.Restarts != nil {
		ch <- &metric{desc: dRestarts, labels: l.unit, value: float64(*f.Restarts), counter: true}
	}
	counter(dIPIn, f.IPIngressBytes)
	counter(dIPOut, f.IPEgressBytes)
	cg := f.Cgroup
	if cg == nil {
		return
	}
	gauge(dTasks, cg.Tasks)
	if cg.TasksMax != nil {
		ch <- &metric{desc: dTasksMax, labels: l.typed, value: float64(*cg.TasksMax)}
	}
	if cg.CPUUsec != nil {
		ch <- &metric{desc: dCPU, labels: l.unit, value: float64(*cg.CPUUsec) / 1e6, counter: true}
	}
	if cg.CPUQuota != nil {
		ch <- &metric{desc: dQuota, labels: l.unit, value: *cg.CPUQuota}
	}
	gauge(dMem, cg.MemoryBytes)
	gauge(dPeak, cg.MemoryPeak)
	gauge(dMemMax, cg.MemoryMax)
	counter(dIORead, cg.IOReadBytes)
	counter(dIOWrite, cg.IOWriteBytes)
}
