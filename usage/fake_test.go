package usage

import (
	"context"
	"slices"
	"sync"

	"github.com/ehecoatl/ehecoatl/dbus"
)

// fakeSystemd answers as systemd would for the units it holds, and
// records what it was asked.
type fakeSystemd struct {
	units    []dbus.UnitStatus
	counters map[string]dbus.ServiceCounters
	listErr  error
	quiet    bool // record nothing (benchmarks)

	mu       sync.Mutex
	patterns []string
	asked    []string
	askedIP  []string
}

func (f *fakeSystemd) ListUnitsIn(_ context.Context, states []string, patterns ...string) ([]dbus.UnitStatus, error) {
	f.mu.Lock()
	if !f.quiet {
		f.patterns = append(f.patterns, patterns...)
	}
	f.mu.Unlock()
	return slices.Clone(f.units), f.listErr
}

func (f *fakeSystemd) ServiceCounters(_ context.Context, names []string, ip []bool) ([]dbus.ServiceCounters, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]dbus.ServiceCounters, len(names))
	for i, n := range names {
		if !f.quiet {
			f.asked = append(f.asked, n)
		}
		c := f.counters[n]
		out[i].NRestarts = c.NRestarts
		if ip[i] {
			if !f.quiet {
				f.askedIP = append(f.askedIP, n)
			}
			out[i].IPIngressBytes, out[i].IPEgressBytes = c.IPIngressBytes, c.IPEgressBytes
		}
	}
	return out, nil
}

func u32(n uint32) *uint32 { return &n }
func u64(n uint64) *uint64 { return &n }

// acme is the fixture of testdata/cgroup: tenant acme's slice and two
// services running, an idle app, a failed one, a second slot systemd has
// not loaded; tenant globex, whose slice is not loaded either.
func acme() (*fakeSystemd, []Target) {
	f := &fakeSystemd{
		units: []dbus.UnitStatus{
			{Name: "ehecoatl-acme.slice", LoadState: "loaded", ActiveState: "active"},
			{Name: "ehecoatl-acme-web.service", LoadState: "loaded", ActiveState: "active"},
			{Name: "ehecoatl-acme-api@2.service", LoadState: "loaded", ActiveState: "active"},
			{Name: "ehecoatl-acme-idle.service", LoadState: "loaded", ActiveState: "inactive"},
			{Name: "ehecoatl-acme-crash.service", LoadState: "loaded", ActiveState: "failed"},
			{Name: "ehecoatl-acme-gone.service", LoadState: "not-found", ActiveState: "inactive"},
		},
		counters: map[string]dbus.ServiceCounters{
			"ehecoatl-acme-web.service":   {NRestarts: u32(1), IPIngressBytes: u64(1500), IPEgressBytes: u64(9000)},
			"ehecoatl-acme-api@2.service": {NRestarts: u32(0)},
			"ehecoatl-acme-idle.service":  {NRestarts: u32(2)},
			"ehecoatl-acme-crash.service": {NRestarts: u32(4)},
		},
	}
	targets := []Target{
		{Tenant: "acme", Unit: "ehecoatl-acme.slice"},
		{Tenant: "acme", App: "web", Unit: "ehecoatl-acme-web.service"},
		{Tenant: "acme", App: "web", Unit: "ehecoatl-acme-web-next.service"},
		{Tenant: "acme", App: "api", Unit: "ehecoatl-acme-api@2.service"},
		{Tenant: "acme", App: "idle", Unit: "ehecoatl-acme-idle.service"},
		{Tenant: "acme", App: "crash", Unit: "ehecoatl-acme-crash.service"},
		{Tenant: "acme", App: "gone", Unit: "ehecoatl-acme-gone.service"},
		{Tenant: "globex", Unit: "ehecoatl-globex.slice"},
	}
	return f, targets
}
