package usage

import "github.com/ehecoatl/ehecoatl/naming"

// Target is one unit whose usage is read: an app's service (App set), or
// a tenant's slice (App "", Unit naming.TenantSlice(Tenant)), whose
// figures are the tenant's totals.
type Target struct {
	Tenant, App string
	// Unit is the unit's name: "ehecoatl-acme-web.service",
	// "ehecoatl-acme-web@2.service", "ehecoatl-acme.slice".
	Unit string
}

// Kind is the unit's type, its name's suffix: "service" or "slice"
// (systemd_exporter's type label).
func (t Target) Kind() string {
	for i := len(t.Unit) - 1; i >= 0; i-- {
		if t.Unit[i] == '.' {
			return t.Unit[i+1:]
		}
	}
	return ""
}

// AppTargets are the targets of apps, as naming names their units: each
// tenant's slice once (before its apps' services), then every service of
// each app: the app's service or its workers' instances, the bridge of a
// port: app, and the second slot's services (docs/OPERATIONS.md
// "Deploys"), which run during a rollout.
func AppTargets(apps []naming.App) []Target {
	var out []Target
	seen := map[string]bool{}
	for _, a := range apps {
		if !seen[a.Tenant] {
			seen[a.Tenant] = true
			out = append(out, Target{Tenant: a.Tenant, Unit: naming.TenantSlice(a.Tenant)})
		}
		n := a.Units("")
		for _, s := range n.Services {
			out = append(out, Target{Tenant: a.Tenant, App: a.Name, Unit: s})
		}
		if n.Next.Service != "" {
			for _, s := range n.Next.Services() {
				out = append(out, Target{Tenant: a.Tenant, App: a.Name, Unit: s})
			}
		}
	}
	return out
}
