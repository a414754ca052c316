package top

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"
)

// Row is a tenant or an app as top shows it. A nil figure is unknown: no
// rate before a second scrape, no accounting exported, no limit set.
type Row struct {
	Tenant string `json:"tenant"`
	App    string `json:"app,omitempty"`
	// State is running, starting, stopping, inactive or failed (the
	// services' ActiveState; see appState); a tenant's is its apps'
	// (failed, else running, else the first app's).
	State             string   `json:"state"`
	CPUPercent        *float64 `json:"cpu_percent"` // 100: one CPU
	MemoryBytes       *float64 `json:"memory_bytes"`
	MemoryMaxBytes    *float64 `json:"memory_max_bytes"`
	Tasks             *float64 `json:"tasks"`
	RequestsPerSecond *float64 `json:"requests_per_second"`
	ErrorsPerSecond   *float64 `json:"errors_per_second"` // 5xx answers
	Apps              []Row    `json:"apps,omitempty"`
}

// Totals are the header line's figures.
type Totals struct {
	Tenants           int      `json:"tenants"`
	Apps              int      `json:"apps"`
	Running           int      `json:"apps_running"`
	CPUPercent        *float64 `json:"cpu_percent"`
	MemoryBytes       *float64 `json:"memory_bytes"`
	RequestsPerSecond *float64 `json:"requests_per_second"`
	ErrorsPerSecond   *float64 `json:"errors_per_second"`
}

// View is one refresh.
type View struct {
	Time     time.Time `json:"time"`
	Interval float64   `json:"interval_seconds"` // between the two scrapes; 0: rates unknown
	Sort     string    `json:"sort"`
	Totals   Totals    `json:"totals"`
	Tenants  []Row     `json:"tenants"`
}

// Sort orders, by the figure they sort on (largest first).
var Sorts = []string{"cpu", "memory", "rps", "errors"}

// Build makes the view of cur, with rates against prev (nil: none yet),
// sorted by sort (one of Sorts): tenants by it, and each tenant's apps.
func Build(prev, cur *Scrape, sort string) (*View, error) {
	by, ok := sortKeys[sort]
	if !ok {
		return nil, fmt.Errorf("unknown sort %q (%v)", sort, Sorts)
	}
	v := &View{Time: cur.At, Sort: sort, Tenants: []Row{}}
	var dt float64
	if prev != nil {
		dt = cur.At.Sub(prev.At).Seconds()
		if dt > 0 {
			v.Interval = dt
		}
	}
	tenants := map[string]*Row{}
	keys := map[Key]bool{}
	for k := range cur.Usage {
		keys[k] = true
	}
	for k := range cur.Requests {
		keys[k] = true
	}
	for k := range keys {
		if k.Tenant == "" {
			continue // not a tenant's (the router's own series, if any)
		}
		t := tenants[k.Tenant]
		if t == nil {
			t = &Row{Tenant: k.Tenant}
			tenants[k.Tenant] = t
		}
		if k.App == "" {
			fillUsage(t, cur.Usage[k], prevUsage(prev, k), dt)
			continue
		}
		a := Row{Tenant: k.Tenant, App: k.App}
		fillUsage(&a, cur.Usage[k], prevUsage(prev, k), dt)
		a.State = appState(cur.Usage[k])
		if dt > 0 {
			r := cur.Requests[k]
			var p *Requests
			if prev != nil {
				p = prev.Requests[k]
			}
			a.RequestsPerSecond = rate(total(r), total(p), dt)
			a.ErrorsPerSecond = rate(errs(r), errs(p), dt)
		}
		t.Apps = append(t.Apps, a)
	}
	for _, t := range tenants {
		for j := range t.Apps {
			tidy(&t.Apps[j])
		}
		t.State = tenantState(t.Apps)
		if dt > 0 {
			t.RequestsPerSecond, t.ErrorsPerSecond = sum(t.Apps, func(r *Row) *float64 { return r.RequestsPerSecond }), sum(t.Apps, func(r *Row) *float64 { return r.ErrorsPerSecond })
		}
		// Without the slice's accounting, the apps' sum stands for it.
		if t.CPUPercent == nil {
			t.CPUPercent = sum(t.Apps, func(r *Row) *float64 { return r.CPUPercent })
		}
		if t.MemoryBytes == nil {
			t.MemoryBytes = sum(t.Apps, func(r *Row) *float64 { return r.MemoryBytes })
		}
		if t.Tasks == nil {
			t.Tasks = sum(t.Apps, func(r *Row) *float64 { return r.Tasks })
		}
		tidy(t)
		slices.SortFunc(t.Apps, func(a, b Row) int { return order(&a, &b, by) })
		v.Tenants = append(v.Tenants, *t)
		v.Totals.Tenants++
		v.Totals.Apps += len(t.Apps)
		for _, a := range t.Apps {
			if a.State == "running" {
				v.Totals.Running++
			}
		}
	}
	slices.SortFunc(v.Tenants, func(a, b Row) int { return order(&a, &b, by) })
	v.Totals.CPUPercent = sum(v.Tenants, func(r *Row) *float64 { return r.CPUPercent })
	v.Totals.MemoryBytes = sum(v.Tenants, func(r *Row) *float64 { return r.MemoryBytes })
	if dt > 0 {
		v.Totals.RequestsPerSecond = sum(v.Tenants, func(r *Row) *float64 { return r.RequestsPerSecond })
		v.Totals.ErrorsPerSecond = sum(v.Tenants, func(r *Row) *float64 { return r.ErrorsPerSecond })
		if v.Totals.RequestsPerSecond == nil {
			zero := 0.0
			v.Totals.RequestsPerSecond, v.Totals.ErrorsPerSecond = &zero, &zero
		}
	}
	t := &v.Totals
	t.CPUPercent, t.RequestsPerSecond, t.ErrorsPerSecond = round(t.CPUPercent, 100), round(t.RequestsPerSecond, 1000), round(t.ErrorsPerSecond, 1000)
	return v, nil
}

// tidy rounds r's fractions (CPU to 0.01%, rates to 0.001/s) so that
// JSON shows 12 rather than 11.999999999999922.
func tidy(r *Row) {
	r.CPUPercent, r.RequestsPerSecond, r.ErrorsPerSecond = round(r.CPUPercent, 100), round(r.RequestsPerSecond, 1000), round(r.ErrorsPerSecond, 1000)
}

func round(p *float64, per float64) *float64 {
	if p == nil {
		return nil
	}
	r := math.Round(*p*per) / per
	return &r
}

var sortKeys = map[string]func(*Row) *float64{
	"cpu":    func(r *Row) *float64 { return r.CPUPercent },
	"memory": func(r *Row) *float64 { return r.MemoryBytes },
	"rps":    func(r *Row) *float64 { return r.RequestsPerSecond },
	"errors": func(r *Row) *float64 { return r.ErrorsPerSecond },
}

// order: largest first, unknown last, then by name.
func order(a, b *Row, by func(*Row) *float64) int {
	x, y := by(a), by(b)
	switch {
	case x != nil && y == nil:
		return -1
	case x == nil && y != nil:
		return 1
	case x != nil && *x != *y:
		return cmp.Compare(*y, *x)
	}
	return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.App, b.App))
}

func prevUsage(prev *Scrape, k Key) *Usage {
	if prev == nil {
		return nil
	}
	return prev.Usage[k]
}

func fillUsage(r *Row, u, p *Usage, dt float64) {
	if u == nil {
		return
	}
	r.MemoryBytes, r.MemoryMaxBytes, r.Tasks = u.Memory, u.MemoryMax, u.Tasks
	if dt > 0 && u.CPUSeconds != nil && p != nil && p.CPUSeconds != nil {
		if c := rate(*u.CPUSeconds, *p.CPUSeconds, dt); c != nil {
			pct := *c * 100
			r.CPUPercent = &pct
		}
	}
}

// rate is a counter's increase per second; a counter that went down was
// reset (the unit or the router restarted) and counts from zero.
func rate(cur, prev, dt float64) *float64 {
	d := cur - prev
	if d < 0 {
		d = cur
	}
	r := d / dt
	return &r
}

func total(r *Requests) float64 {
	if r == nil {
		return 0
	}
	return r.Total
}

func errs(r *Requests) float64 {
	if r == nil {
		return 0
	}
	return r.Errors
}

// sum adds the known figures of rows; nil when none is known.
func sum(rows []Row, f func(*Row) *float64) *float64 {
	var s *float64
	for i := range rows {
		if v := f(&rows[i]); v != nil {
			if s == nil {
				s = new(float64)
			}
			*s += *v
		}
	}
	return s
}

// appState is an app's ActiveState as a word: a service running is
// running; none running but one starting, starting; a failed one, failed.
// Stopped services are inactive: idle (their socket listens) or stopped,
// which the metrics do not tell apart (`ehecoatl status` does), unless
// they carry the sockets' states too.
func appState(u *Usage) string {
	if u == nil || len(u.States) == 0 {
		return "-"
	}
	has := func(s string) bool {
		for _, st := range u.States {
			if st == s {
				return true
			}
		}
		return false
	}
	switch {
	case has("failed"):
		return "failed"
	case has("active") || has("reloading"):
		return "running"
	case has("activating"):
		return "starting"
	case has("deactivating"):
		return "stopping"
	}
	if len(u.Sockets) == 0 {
		return "inactive"
	}
	for _, st := range u.Sockets {
		if st == "active" {
			return "idle"
		}
	}
	return "stopped"
}

func tenantState(apps []Row) string {
	st := "-"
	for _, a := range apps {
		switch {
		case a.State == "failed":
			return "failed"
		case a.State == "running":
			st = "running"
		case st == "-" && a.State != "-":
			st = a.State
		}
	}
	return st
}
