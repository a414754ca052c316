package status

import "github.com/ehecoatl/ehecoatl/usage"

// Figures are what a unit, an app or a tenant used since it started,
// read from its cgroup and systemd when status runs (package usage). A
// figure is absent (nil) when nothing holds it: a unit that does not run
// has no cgroup, so no CPU, memory, tasks or IO; memory_peak_bytes needs
// Linux 5.19; IP bytes need IPAccounting= and a kernel that runs its BPF.
type Figures struct {
	CPUSeconds      *float64 `json:"cpu_seconds,omitempty"`
	MemoryBytes     *uint64  `json:"memory_bytes,omitempty"`
	MemoryPeakBytes *uint64  `json:"memory_peak_bytes,omitempty"`
	Tasks           *uint64  `json:"tasks,omitempty"`
	IOReadBytes     *uint64  `json:"io_read_bytes,omitempty"`
	IOWriteBytes    *uint64  `json:"io_write_bytes,omitempty"`
	IPIngressBytes  *uint64  `json:"ip_ingress_bytes,omitempty"`
	IPEgressBytes   *uint64  `json:"ip_egress_bytes,omitempty"`
	Restarts        *uint32  `json:"restarts,omitempty"`
	// The unit's limits (cgroup files memory.max, pids.max, cpu.max);
	// absent when unlimited, and in an app's sums.
	MemoryMaxBytes *uint64  `json:"memory_max_bytes,omitempty"`
	TasksMax       *uint64  `json:"tasks_max,omitempty"`
	CPUQuotaRatio  *float64 `json:"cpu_quota_ratio,omitempty"`
}

// UnitUsage is one service's figures, with systemd's ActiveState.
type UnitUsage struct {
	Name  string `json:"name"`
	State string `json:"state"`
	Figures
}

// AppUsage sums the figures of an app's services (memory_peak_bytes is
// the sum of each service's peak: at most what the app held at once),
// and lists them.
type AppUsage struct {
	Figures
	Units []UnitUsage `json:"units"`
}

// Tenant is a tenant's slice: its state and its figures, the tenant's
// totals against its limits.
type Tenant struct {
	Tenant string  `json:"tenant"`
	Slice  string  `json:"slice"`
	State  string  `json:"state"`
	Usage  Figures `json:"usage"`
}

// AttachUsage gives each row the figures of its services and returns
// the tenants' slices, from a reading (usage.Read) of usage.AppTargets of the rows' apps. Units systemd has
// not loaded (a second slot before its first rollout) are left out.
func AttachUsage(rows []App, figs []usage.Figures) []Tenant {
	byApp := map[string][]usage.Figures{}
	tenants := []Tenant{}
	for _, f := range figs {
		if f.App == "" {
			tenants = append(tenants, Tenant{Tenant: f.Tenant, Slice: f.Unit, State: f.ActiveState, Usage: figures(f)})
			continue
		}
		if f.Loaded {
			byApp[f.Tenant+"/"+f.App] = append(byApp[f.Tenant+"/"+f.App], f)
		}
	}
	for i := range rows {
		fs, ok := byApp[rows[i].Tenant+"/"+rows[i].App]
		if !ok {
			continue
		}
		u := &AppUsage{Units: []UnitUsage{}}
		for _, f := range fs {
			uf := figures(f)
			u.Units = append(u.Units, UnitUsage{Name: f.Unit, State: f.ActiveState, Figures: uf})
			u.add(uf)
		}
		rows[i].Usage = u
	}
	return tenants
}

func (u *AppUsage) add(f Figures) {
	u.CPUSeconds = sumF(u.CPUSeconds, f.CPUSeconds)
	u.MemoryBytes = sum(u.MemoryBytes, f.MemoryBytes)
	u.MemoryPeakBytes = sum(u.MemoryPeakBytes, f.MemoryPeakBytes)
	u.Tasks = sum(u.Tasks, f.Tasks)
	u.IOReadBytes = sum(u.IOReadBytes, f.IOReadBytes)
	u.IOWriteBytes = sum(u.IOWriteBytes, f.IOWriteBytes)
	u.IPIngressBytes = sum(u.IPIngressBytes, f.IPIngressBytes)
	u.IPEgressBytes = sum(u.IPEgressBytes, f.IPEgressBytes)
	if f.Restarts != nil {
		n := *f.Restarts
		if u.Restarts != nil {
			n += *u.Restarts
		}
		u.Restarts = &n
	}
}

func figures(f usage.Figures) Figures {
	out := Figures{Restarts: f.Restarts, IPIngressBytes: f.IPIngressBytes, IPEgressBytes: f.IPEgressBytes}
	if c := f.Cgroup; c != nil {
		if c.CPUUsec != nil {
			s := float64(*c.CPUUsec) / 1e6
			out.CPUSeconds = &s
		}
		out.MemoryBytes, out.MemoryPeakBytes, out.Tasks = c.MemoryBytes, c.MemoryPeak, c.Tasks
		out.IOReadBytes, out.IOWriteBytes = c.IOReadBytes, c.IOWriteBytes
		out.MemoryMaxBytes, out.TasksMax, out.CPUQuotaRatio = c.MemoryMax, c.TasksMax, c.CPUQuota
	}
	return out
}

func sum(a, b *uint64) *uint64 { return addU(a, b) }

func sumF(a, b *float64) *float64 {
	if b == nil {
		return a
	}
	x := *b
	if a != nil {
		x += *a
	}
	return &x
}
