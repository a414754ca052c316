package usage

import (
	"context"
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
	dIPIn     = prometheus.NewDesc("ehecoatl_service_ip_ingress_bytes", "IP bytes received by the service (IPAccounting=yes).", lUnit, nil)
	dIPOut    = prometheus.NewDesc("ehecoatl_service_ip_egress_bytes", "IP bytes sent by the service (IPAccounting=yes).", lUnit, nil)
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
	root    string
}

// NewCollector returns the collector of docs/METRICS.md's "Usage" metrics
// of the units targets returns at each scrape (the router passes those
// of its current table: AppTargets of its apps). Every scrape reads them
// afresh (Read); nothing is sampled in between.
func NewCollector(targets func() []Target, opts Options) prometheus.Collector {
	root := opts.CgroupRoot
	if root == "" {
		root = DefaultCgroupRoot()
	}
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	return &collector{targets: targets, opts: opts, root: root}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range descs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	defer cancel()
	figs, err := Read(ctx, c.opts.Systemd, c.root, c.targets())
	if err != nil && c.opts.OnError != nil {
		c.opts.OnError(err)
	}
	for i := range figs {
		// As systemd_exporter, which lists the units systemd has loaded:
		// one systemd has not loaded has no state to show.
		if figs[i].Loaded {
			emit(ch, &figs[i])
		}
	}
}

func emit(ch chan<- prometheus.Metric, f *Figures) {
	kind := f.Kind()
	for _, s := range unitStates {
		v := 0.0
		if s == f.ActiveState {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(dState, prometheus.GaugeValue, v, f.Tenant, f.App, f.Unit, kind, s)
	}
	l := []string{f.Tenant, f.App, f.Unit}
	u64 := func(d *prometheus.Desc, t prometheus.ValueType, v *uint64, labels ...string) {
		if v != nil {
			ch <- prometheus.MustNewConstMetric(d, t, float64(*v), labels...)
		}
	}
	if f.Restarts != nil {
		ch <- prometheus.MustNewConstMetric(dRestarts, prometheus.CounterValue, float64(*f.Restarts), l...)
	}
	u64(dIPIn, prometheus.CounterValue, f.IPIngressBytes, l...)
	u64(dIPOut, prometheus.CounterValue, f.IPEgressBytes, l...)
	cg := f.Cgroup
	if cg == nil {
		return
	}
	u64(dTasks, prometheus.GaugeValue, cg.Tasks, l...)
	u64(dTasksMax, prometheus.GaugeValue, cg.TasksMax, f.Tenant, f.App, f.Unit, kind)
	if cg.CPUUsec != nil {
		ch <- prometheus.MustNewConstMetric(dCPU, prometheus.CounterValue, float64(*cg.CPUUsec)/1e6, l...)
	}
	if cg.CPUQuota != nil {
		ch <- prometheus.MustNewConstMetric(dQuota, prometheus.GaugeValue, *cg.CPUQuota, l...)
	}
	u64(dMem, prometheus.GaugeValue, cg.MemoryBytes, l...)
	u64(dPeak, prometheus.GaugeValue, cg.MemoryPeak, l...)
	u64(dMemMax, prometheus.GaugeValue, cg.MemoryMax, l...)
	u64(dIORead, prometheus.CounterValue, cg.IOReadBytes, l...)
	u64(dIOWrite, prometheus.CounterValue, cg.IOWriteBytes, l...)
}
