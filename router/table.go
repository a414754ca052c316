package router

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/naming"
	"github.com/ehecoatl/ehecoatl/router/certs"
)

// Table is an immutable routing table. The router swaps whole tables
// atomically on reload, so a request sees either the old or the new table,
// never a mix.
type Table struct {
	// exact maps a normalised host to its routes.
	exact map[string]*hostRoutes
	// wild maps the suffix of a "*.suffix" wildcard to its routes.
	wild map[string]*hostRoutes
	// apps are the distinct apps the table routes to, sorted by key.
	apps []*appState
	// routes is the flat list, for Routes().
	routes []RouteInfo
	// certs are the domains served over HTTPS and where their
	// certificates come from (docs/MANIFEST.md "HTTPS").
	certs map[string]certs.Policy
	// domains are the per-domain counters of the routes
	// (Config.MetricsPerDomain), sorted; nil without.
	domains []*domainMetrics
}

// hostRoutes are the routes of one host pattern, longest path first.
type hostRoutes struct {
	routes []*route
}

type route struct {
	path string
	app  *appState
	// https: the domain has a certificate source, so plain-HTTP requests
	// are redirected; hsts: HTTPS responses carry Strict-Transport-Security.
	https, hsts bool
	// held: the app is suspended in its manifest or stopped by the
	// operator, and answered with 503 (heldPage) without being forwarded.
	held bool
	// dom counts the route's requests by domain (Config.MetricsPerDomain),
	// nil without.
	dom *domainMetrics
}

// RouteInfo describes one entry of a table, for `ehecoatl routes`.
type RouteInfo struct {
	// Domain is normalised; "*.example.com" for a wildcard.
	Domain string
	// Path prefix.
	Path   string
	Tenant string
	App    string
	// Sockets the route forwards to: one, or one per worker.
	Sockets []string
	// TLS is the domain's certificate source: "auto", "files" or "off"
	// ("off" too for names no public CA issues for, under tls: auto).
	TLS string
}

// NewTable builds a table from a validated manifest set without any
// runtime state (connection pools, counters). It is what `ehecoatl routes`
// can print; the router itself builds tables through its registry so that
// state survives reloads.
func NewTable(set *manifest.Set, runDir string) (*Table, error) {
	return buildTable(set, runDir, newRegistry(Config{}.withDefaults()), nil)
}

// Routes lists the table's entries sorted by domain and path.
func (t *Table) Routes() []RouteInfo { return t.routes }

// Lookup returns the tenant and app serving host and path, ok=false when no
// route matches. host is taken as received (any case, port, trailing dot).
func (t *Table) Lookup(host, path string) (tenant, app string, ok bool) {
	r := t.lookup(normalizeHost(host), path)
	if r == nil {
		return "", "", false
	}
	return r.app.tenant.name, r.app.name, true
}

// lookup finds the route of a normalised host. The most specific host
// pattern that exists wins (exact name, then the longest wildcard suffix);
// within it the longest path prefix on a segment boundary. There is no
// fall-through to a less specific host pattern when no path matches: a
// host owned by one tenant never serves another tenant's wildcard content.
func (t *Table) lookup(host, path string) *route {
	if hr := t.exact[host]; hr != nil {
		return hr.match(path)
	}
	if len(t.wild) == 0 {
		return nil
	}
	for i := 0; i < len(host); i++ {
		if host[i] == '.' {
			if hr := t.wild[host[i+1:]]; hr != nil {
				return hr.match(path)
			}
		}
	}
	return nil
}

// match returns the longest path prefix route; "/api" matches "/api" and
// "/api/x" but not "/apix".
func (h *hostRoutes) match(path string) *route {
	for _, r := range h.routes {
		if pathMatch(r.path, path) {
			return r
		}
	}
	return nil
}

func pathMatch(prefix, path string) bool {
	if prefix == "/" || prefix == "" {
		return true
	}
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || path[len(prefix)] == '/' || prefix[len(prefix)-1] == '/'
}

// normalizeHost lower-cases a Host header and strips its port and trailing
// dot. It allocates only when the host contains upper-case letters.
func normalizeHost(h string) string {
	if len(h) > 0 && h[0] == '[' { // IPv6 literal, never a route but normalise anyway
		if i := strings.IndexByte(h, ']'); i > 0 {
			h = h[1:i]
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.IndexByte(h[:i], ':') < 0 {
		h = h[:i]
	}
	if len(h) > 0 && h[len(h)-1] == '.' {
		h = h[:len(h)-1]
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// buildTable turns a set into a table, taking tenant and app state from
// reg so that counters and pools of unchanged apps carry over. stopped
// (nil: none) says which apps the operator stopped; they and the apps of
// suspended tenants are held.
func buildTable(set *manifest.Set, runDir string, reg *registry, stopped func(tenant, app string) bool) (*Table, error) {
	if set == nil {
		return nil, fmt.Errorf("router: no manifest set")
	}
	apps := map[string]*manifest.App{}
	held := map[string]bool{}
	for _, t := range set.Tenants {
		for _, a := range t.Apps {
			apps[t.Name+"/"+a.Name] = a
			held[t.Name+"/"+a.Name] = t.Suspended || stopped != nil && stopped(t.Name, a.Name)
		}
	}
	t := &Table{exact: map[string]*hostRoutes{}, wild: map[string]*hostRoutes{}, certs: map[string]certs.Policy{}}
	used := map[string]*appState{}
	for _, r := range set.Routes {
		a := apps[r.Tenant+"/"+r.App]
		if a == nil {
			return nil, fmt.Errorf("router: %s: route %s%s names unknown app %s/%s", r.File, r.Domain, r.Path, r.Tenant, r.App)
		}
		key := r.Tenant + "/" + r.App
		st := used[key]
		if st == nil {
			// The sockets and units are named by package naming, as the
			// generator names them: one scheme, in one place.
			n := a.Names().Units(runDir)
			st = reg.app(r.Tenant, r.App, n.SocketPaths, appOptions{
				units:       n.Services,
				runUnits:    runUnits(n.Services, len(n.SocketPaths)),
				workers:     a.Names().Templated(),
				health:      a.Health,
				host:        probeHost(a.Domains),
				watch:       append(append([]string{}, n.Sockets...), n.Services...),
				idleTimeout: a.IdleTimeout,
				activation:  a.Listen == manifest.ListenActivation,
				next:        n.Next.SocketPath,
				nextUnits:   nextServices(n),
			})
			used[key] = st
		}
		domain := normalizeHost(r.Domain)
		m := t.exact
		if strings.HasPrefix(domain, "*.") {
			m, domain = t.wild, domain[2:]
		}
		hr := m[domain]
		if hr == nil {
			hr = &hostRoutes{}
			m[domain] = hr
		}
		p := r.Path
		if p == "" {
			p = "/"
		}
		for _, old := range hr.routes {
			if old.path == p {
				return nil, fmt.Errorf("router: %s: %s%s is claimed twice", r.File, r.Domain, p)
			}
		}
		pol, https := certPolicy(r, a)
		if https {
			t.certs[normalizeHost(r.Domain)] = pol
		}
		hr.routes = append(hr.routes, &route{path: p, app: st, https: https, hsts: https && a.HSTS, held: held[key], dom: reg.domain(st, normalizeHost(r.Domain))})
		mode := manifest.TLSOff
		if https {
			mode = a.TLS.Mode
		}
		t.routes = append(t.routes, RouteInfo{Domain: r.Domain, Path: p, Tenant: r.Tenant, App: r.App, Sockets: st.sockets, TLS: mode})
	}
	for _, m := range []map[string]*hostRoutes{t.exact, t.wild} {
		for _, hr := range m {
			sort.SliceStable(hr.routes, func(i, j int) bool { return len(hr.routes[i].path) > len(hr.routes[j].path) })
		}
	}
	for _, st := range used {
		t.apps = append(t.apps, st)
	}
	for _, d := range reg.nextDomains {
		t.domains = append(t.domains, d)
	}
	sort.Slice(t.domains, func(i, j int) bool {
		a, b := t.domains[i], t.domains[j]
		if a.tenant+"/"+a.app != b.tenant+"/"+b.app {
			return a.tenant+"/"+a.app < b.tenant+"/"+b.app
		}
		return a.host < b.host
	})
	sort.Slice(t.apps, func(i, j int) bool { return t.apps[i].key < t.apps[j].key })
	sort.SliceStable(t.routes, func(i, j int) bool {
		if t.routes[i].Domain != t.routes[j].Domain {
			return t.routes[i].Domain < t.routes[j].Domain
		}
		return t.routes[i].Path < t.routes[j].Path
	})
	return t, nil
}

// certPolicy is where the certificate of a route's domain comes from;
// https is false when the domain is served over plain HTTP only: tls:
// off, or tls: auto for a wildcard or a name no public CA issues for
// (docs/MANIFEST.md "HTTPS").
func certPolicy(r manifest.Route, a *manifest.App) (p certs.Policy, https bool) {
	p.Tenant = r.Tenant
	switch a.TLS.Mode {
	case manifest.TLSFiles:
		dir := path.Join(naming.CertsDir, r.Tenant)
		p.Mode, p.CertFile, p.KeyFile = certs.Files, path.Join(dir, a.TLS.CertFile), path.Join(dir, a.TLS.KeyFile)
		return p, true
	case manifest.TLSAuto, "":
		if strings.HasPrefix(r.Domain, "*.") || !manifest.PublicName(r.Domain) {
			return p, false
		}
		p.Mode = certs.Auto
		return p, true
	}
	return p, false
}

// Certs returns the domains the table serves over HTTPS.
func (t *Table) Certs() map[string]certs.Policy { return t.certs }

// appOptions are the per-app settings the registry keeps with the state.
type appOptions struct {
	units       []string
	runUnits    []string
	workers     bool
	health      string
	host        string
	watch       []string
	idleTimeout time.Duration
	activation  bool
	// next is the socket of the app's second slot, "" without one;
	// nextUnits its services (the usage metrics read them during a
	// rollout).
	next      string
	nextUnits []string
}

// nextServices are the services of n's second slot, none without one.
func nextServices(n naming.Units) []string {
	if n.Next.Service == "" {
		return nil
	}
	return n.Next.Services()
}

// runUnits picks, per instance, the last of its services (the bridge of a
// port: app, which its socket starts, else the app's own service): the one
// whose running means a probe starts nothing.
func runUnits(services []string, instances int) []string {
	if instances == 0 {
		return nil
	}
	g := len(services) / instances
	out := make([]string, 0, instances)
	for i := 0; i < instances; i++ {
		out = append(out, services[i*g+g-1])
	}
	return out
}

// probeHost is the Host of an app's health probes: its first exact
// domain, else its first wildcard with "*" written as "health".
func probeHost(domains []string) string {
	for _, d := range domains {
		if !strings.HasPrefix(d, "*.") {
			return normalizeHost(d)
		}
	}
	if len(domains) > 0 {
		return "health" + normalizeHost(domains[0])[1:]
	}
	return "localhost"
}
