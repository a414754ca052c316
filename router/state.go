package router

import (
	"sync"
	"sync/atomic"
	"time"
)

// tenantState is the per-tenant runtime state: the concurrency cap. It
// lives as long as the router, across reloads, so in-flight counts stay
// exact while tables are swapped.
type tenantState struct {
	name string
	hash uint32 // tenantHash(name)
	// inflight counts requests being forwarded; upgraded counts open
	// WebSocket (or other upgraded) connections.
	inflight, upgraded atomic.Int64
	// streaming counts the requests in flight whose body is still being
	// read from the client (tryStream).
	streaming atomic.Int64
	// maxInflight and maxUpgraded are the caps (0 = unlimited).
	maxInflight, maxUpgraded atomic.Int64
}

// tryAcquire takes a request slot without ever waiting: over the cap the
// caller answers 503 at once, so a flooded tenant cannot queue work that
// delays anybody else.
func (t *tenantState) tryAcquire() bool {
	n := t.inflight.Add(1)
	if m := t.maxInflight.Load(); m > 0 && n > m {
		t.inflight.Add(-1)
		return false
	}
	return true
}

func (t *tenantState) release() { t.inflight.Add(-1) }

// tryStream counts a request that holds a slot while its body still
// arrives; at most half of the cap may be such requests, so clients that
// send slowly (however many addresses they use) leave the other half to
// the tenant's other requests. The pace of bodyReader cuts them.
func (t *tenantState) tryStream() bool {
	n := t.streaming.Add(1)
	if m := t.maxInflight.Load(); m > 0 && n > max(m/2, 1) {
		t.streaming.Add(-1)
		return false
	}
	return true
}

func (t *tenantState) endStream() { t.streaming.Add(-1) }

// appState is the runtime state of one (tenant, app): its upstream pools,
// the worker balancer and idle tracking.
type appState struct {
	key    string // "tenant/app"
	name   string
	tenant *tenantState
	// m are the app's counters for the metrics (metrics.go), shared by
	// every appState the app has had.
	m       *appMetrics
	sockets []string
	units   []string
	// nextUnits are the second slot's services (appOptions.nextUnits).
	nextUnits []string
	ups       []*upstream
	// next is the second slot of an app of one worker (naming.App.HasNext),
	// nil for other apps: it gets requests only while a rollout puts it in
	// rotation (drain.go), and is no instance for health, idle or pick.
	next atomic.Pointer[upstream]
	// runUnits are, per instance, the service its socket starts (the app's,
	// or its bridge's), whose state says whether it may be probed.
	runUnits []string
	// probe is the active health check, nil without health: in the
	// manifest (health.go).
	probe atomic.Pointer[probeTarget]
	rr    atomic.Uint32

	// idleTimeout (ns) and activation can change on reload without the
	// sockets changing.
	idleTimeout atomic.Int64
	activation  atomic.Bool

	// inflight counts requests and open upgraded connections; lastActive is
	// the unix-nano time of the last request start or end; stopped is set
	// after the IdleStopper stopped the app and cleared by the next request.
	inflight   atomic.Int64
	lastActive atomic.Int64
	stopped    atomic.Bool
	stopping   atomic.Bool

	// errLoggedAt and errSuppressed rate-limit upstream error messages.
	errLoggedAt, errSuppressed atomic.Int64

	// watch are all the app's units (sockets and services); failed is
	// whether one of them was failed at failAt (Router.gaveUp).
	watch  []string
	failMu sync.Mutex
	failAt time.Time
	failed bool
}

// pick chooses the worker upstream with the fewest requests in flight
// among those up, not drained (drain.go) and not skip, starting at a round-robin position so that
// ties (the common case with short requests) rotate evenly; nil when
// every instance is down (or skipped).
func (a *appState) pick(skip *upstream) *upstream {
	n := len(a.ups)
	if n == 1 {
		if u := a.ups[0]; u != skip && !u.health.down.Load() && !u.drained.Load() {
			return u
		}
		return nil
	}
	start := int(a.rr.Add(1) % uint32(n))
	var best *upstream
	var bl int64
	for i := 0; i < n; i++ {
		u := a.ups[(start+i)%n]
		if u == skip || u.health.down.Load() || u.drained.Load() {
			continue
		}
		if l := u.active.Load(); best == nil || l < bl {
			best, bl = u, l
			if l == 0 {
				break
			}
		}
	}
	return best
}

func (a *appState) begin(now int64) {
	a.inflight.Add(1)
	a.touch(now)
	if a.stopped.Load() {
		a.stopped.Store(false)
	}
}

func (a *appState) end(now int64) {
	a.touch(now)
	a.inflight.Add(-1)
}

// touch records now as the last activity, unless the record is less than a
// millisecond old: a busy app's requests come many to the millisecond,
// from every CPU, and a store each made the CPUs take the word from each
// other twice per request; idle tracking counts in seconds.
func (a *appState) touch(now int64) {
	if now-a.lastActive.Load() >= int64(time.Millisecond) {
		a.lastActive.Store(now)
	}
}

func (a *appState) close() {
	for _, u := range a.ups {
		u.close()
	}
	if n := a.next.Load(); n != nil {
		n.close()
	}
}

// registry keeps tenant and app state across table generations.
type registry struct {
	cfg     Config
	mu      sync.Mutex
	tenants map[string]*tenantState
	apps    map[string]*appState
	next    map[string]*appState
	// metrics are the apps' counters by key, kept while the app is in
	// the table even when its appState is replaced; domains (with
	// Config.MetricsPerDomain) are the per-domain counters of the table
	// in use, by domainKey, and nextDomains those of the table being
	// built.
	metrics              map[string]*appMetrics
	domains, nextDomains map[string]*domainMetrics
}

func newRegistry(cfg Config) *registry {
	return &registry{cfg: cfg, tenants: map[string]*tenantState{}, apps: map[string]*appState{}, next: map[string]*appState{},
		metrics: map[string]*appMetrics{}, domains: map[string]*domainMetrics{}, nextDomains: map[string]*domainMetrics{}}
}

// appMetrics returns the counters of the app key, new ones for an app the
// table did not have.
func (r *registry) appMetrics(key string) *appMetrics {
	m := r.metrics[key]
	if m == nil {
		m = &appMetrics{}
		r.metrics[key] = m
	}
	return m
}

// domain returns the per-domain counter of a route of the table being
// built, nil without Config.MetricsPerDomain.
func (r *registry) domain(a *appState, domain string) *domainMetrics {
	if !r.cfg.MetricsPerDomain {
		return nil
	}
	k := a.key + "\x00" + domain
	d := r.nextDomains[k]
	if d == nil {
		if d = r.domains[k]; d == nil {
			d = &domainMetrics{tenant: a.tenant.name, app: a.name, host: domain}
		}
		r.nextDomains[k] = d
	}
	return d
}

func (r *registry) tenant(name string) *tenantState {
	t := r.tenants[name]
	if t == nil {
		t = &tenantState{name: name, hash: tenantHash(name)}
		r.tenants[name] = t
	}
	t.maxInflight.Store(int64(r.cfg.TenantMaxInFlight))
	t.maxUpgraded.Store(int64(r.cfg.TenantMaxUpgraded))
	return t
}

// app returns the state for an app in the table being built: the existing
// one when its sockets did not change, a new one otherwise.
func (r *registry) app(tenant, app string, sockets []string, o appOptions) *appState {
	key := tenant + "/" + app
	a := r.apps[key]
	if a == nil || !sameStrings(a.sockets, sockets) {
		a = &appState{key: key, name: app, tenant: r.tenant(tenant), sockets: sockets, units: o.units, nextUnits: o.nextUnits, runUnits: o.runUnits}
		for i, s := range sockets {
			u := newUpstream(s, r.cfg)
			if o.workers {
				u.instance = i + 1
			}
			a.ups = append(a.ups, u)
		}
		a.lastActive.Store(time.Now().UnixNano())
	} else {
		r.tenant(tenant) // refresh caps
	}
	if n := a.next.Load(); n != nil && n.path != o.next {
		// The slot goes on a change of deploy: or listen:; the app's own
		// upstreams, with their counts, stay.
		a.next.Store(nil)
		n.close()
	}
	if a.next.Load() == nil && o.next != "" {
		n := newUpstream(o.next, r.cfg)
		n.warm.Store(warmYes) // a rollout starts it before it serves
		a.next.Store(n)
	}
	if a.m == nil {
		a.m = r.appMetrics(key)
	} else {
		r.metrics[key] = a.m
	}
	a.idleTimeout.Store(int64(o.idleTimeout))
	if o.health == "" {
		a.probe.Store(nil)
	} else if pt := a.probe.Load(); pt == nil || pt.path != o.health || pt.host != o.host {
		a.probe.Store(&probeTarget{path: o.health, host: o.host})
	}
	a.activation.Store(o.activation)
	// A port: app gains a bridge without its sockets changing.
	a.failMu.Lock()
	a.watch = o.watch
	a.failMu.Unlock()
	r.next[key] = a
	return a
}

// commit makes the apps of the last successful build current and closes
// the pools of apps that are gone or whose sockets changed. Requests in
// flight on them finish; their connections are closed when released.
func (r *registry) commit() {
	for k, a := range r.apps {
		if r.next[k] != a {
			a.close()
		}
	}
	r.apps, r.next = r.next, map[string]*appState{}
	for k := range r.metrics {
		if r.apps[k] == nil {
			delete(r.metrics, k)
		}
	}
	r.domains, r.nextDomains = r.nextDomains, map[string]*domainMetrics{}
}

// abort forgets a failed build.
func (r *registry) abort() {
	for k, a := range r.next {
		if r.apps[k] != a {
			a.close()
		}
	}
	r.next = map[string]*appState{}
	for k := range r.metrics {
		if r.apps[k] == nil {
			delete(r.metrics, k)
		}
	}
	r.nextDomains = map[string]*domainMetrics{}
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
