package main

import (
	"log/slog"

	"github.com/ehecoatl/ehecoatl/dbus"
	"github.com/ehecoatl/ehecoatl/naming"
	"github.com/ehecoatl/ehecoatl/router"
	"github.com/ehecoatl/ehecoatl/usage"
)

// registerUsage adds the usage figures (docs/METRICS.md "Usage") of the
// table's apps to the router's metrics: read from cgroupfs and systemd at
// each scrape, for the apps of the table then in use. One collector for
// the router's life: it keeps the restart counts between scrapes.
func registerUsage(rt *router.Router, sd *dbus.Client, log *slog.Logger) {
	rt.AddMetrics(usage.NewCollector(func() []usage.Target { return usageTargets(rt.AppUnits()) }, usage.Options{
		Systemd: sd,
		OnError: func(err error) { log.Warn("metrics: usage", "err", err) },
	}))
}

// usageTargets are the tenants' slices (each once, before its apps) and
// every service of each app, its second slot's included.
func usageTargets(apps []router.AppUnit) []usage.Target {
	out := make([]usage.Target, 0, 3*len(apps))
	last := ""
	for _, a := range apps { // sorted by tenant
		if a.Tenant != last {
			last = a.Tenant
			out = append(out, usage.Target{Tenant: a.Tenant, Unit: naming.TenantSlice(a.Tenant)})
		}
		for _, s := range a.Services {
			out = append(out, usage.Target{Tenant: a.Tenant, App: a.App, Unit: s})
		}
		for _, s := range a.Next {
			out = append(out, usage.Target{Tenant: a.Tenant, App: a.App, Unit: s})
		}
	}
	return out
}
