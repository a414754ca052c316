// The router's own families: the counters of metrics.go and the router's
// state, read and written when Prometheus scrapes (docs/METRICS.md).

package router

import (
	"fmt"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ehecoatl/ehecoatl/internal/promtext"
)

var (
	famRequests       = promtext.Family{Name: "ehecoatl_requests_total", Help: "Requests answered, by status class and protocol.", Type: promtext.Counter}
	famDuration       = promtext.Family{Name: "ehecoatl_request_duration_seconds", Help: "From the request's head read to the response's last byte written.", Type: promtext.Histogram}
	famInFlight       = promtext.Family{Name: "ehecoatl_requests_in_flight", Help: "Requests being answered now (and open WebSocket connections).", Type: promtext.Gauge}
	famRefused        = promtext.Family{Name: "ehecoatl_requests_refused_total", Help: "Requests refused by a cap before reaching the app.", Type: promtext.Counter}
	famUpstreamErrors = promtext.Family{Name: "ehecoatl_upstream_errors_total", Help: "Requests whose app connection failed, answered by the router.", Type: promtext.Counter}
	famBytesIn        = promtext.Family{Name: "ehecoatl_request_bytes_total", Help: "Bytes received from clients (heads and bodies).", Type: promtext.Counter}
	famBytesOut       = promtext.Family{Name: "ehecoatl_response_bytes_total", Help: "Bytes sent to clients (heads and bodies).", Type: promtext.Counter}
	famUnrouted       = promtext.Family{Name: "ehecoatl_unrouted_requests_total", Help: "Requests for a host no app serves, and requests refused before routing.", Type: promtext.Counter}
	famDomain         = promtext.Family{Name: "ehecoatl_domain_requests_total", Help: "Requests by the route's domain (-metrics-per-domain).", Type: promtext.Counter}
	famColdStarts     = promtext.Family{Name: "ehecoatl_cold_starts_total", Help: "Requests that found the app stopped and waited for it to start.", Type: promtext.Counter}
	famColdWait       = promtext.Family{Name: "ehecoatl_cold_start_wait_seconds", Help: "How long cold starts waited for the app's response head.", Type: promtext.Histogram}
	famIdleStops      = promtext.Family{Name: "ehecoatl_idle_stops_total", Help: "Stops of the app after its idle timeout.", Type: promtext.Counter}
	famInstanceUp     = promtext.Family{Name: "ehecoatl_instance_up", Help: "1 when the instance passes its health checks, 0 when it is down (apps with health:).", Type: promtext.Gauge}
	famCertExpiry     = promtext.Family{Name: "ehecoatl_certificate_expiry_timestamp_seconds", Help: "When the certificate the router serves for a domain expires.", Type: promtext.Gauge}
	famRoutes         = promtext.Family{Name: "ehecoatl_router_routes", Help: "Domains in the routing table.", Type: promtext.Gauge}
	famApps           = promtext.Family{Name: "ehecoatl_router_apps", Help: "Apps in the routing table.", Type: promtext.Gauge}
	famReloads        = promtext.Family{Name: "ehecoatl_router_reloads_total", Help: "Loads of the routing table (at start and on SIGHUP).", Type: promtext.Counter}
	famReloadDur      = promtext.Family{Name: "ehecoatl_router_reload_duration_seconds", Help: "How long a load of the routing table took.", Type: promtext.Histogram}
	famLastReload     = promtext.Family{Name: "ehecoatl_router_last_reload_success_timestamp_seconds", Help: "When the table in use was loaded.", Type: promtext.Gauge}
	famLogDropped     = promtext.Family{Name: "ehecoatl_router_access_log_dropped_total", Help: "Access log entries dropped because the journal could not keep up.", Type: promtext.Counter}
	famBuildInfo      = promtext.Family{Name: "ehecoatl_build_info", Help: "1, labelled with the router's version and Go version.", Type: promtext.Gauge}
)

// writeMetrics writes the router's own families: the counters of the
// apps of the table in use (an app that left the table leaves the scrape
// with it) and the router's state. Requests by class and protocol, per
// domain and unrouted appear from their first request (the matrix is
// mostly zeros); the other series of an app are always there. Each
// family's series are in the table's order (by tenant, then app), and
// labels in name order, as a registry sorts them.
func (rt *Router) writeMetrics(w *promtext.Writer) {
	t := rt.table.Load()
	var cum [maxBuckets + 1]uint64

	w.Family(famRequests)
	for _, a := range t.apps {
		for cl := range a.m.requests {
			for p := range a.m.requests[cl] {
				if v := a.m.requests[cl][p].Load(); v > 0 {
					w.Sample(float64(v), "app", a.name, "code", classNames[cl], "proto", protoNames[p], "tenant", a.tenant.name)
				}
			}
		}
	}
	w.Family(famDuration)
	for _, a := range t.apps {
		c, sum := a.m.duration.cumulative(durationBuckets, &cum)
		w.Histogram(durationBuckets.prom, c, sum, "app", a.name, "tenant", a.tenant.name)
	}
	w.Family(famInFlight)
	for _, a := range t.apps {
		w.Sample(float64(a.inflight.Load()), "app", a.name, "tenant", a.tenant.name)
	}
	w.Family(famRefused)
	for _, a := range t.apps {
		for r := range a.m.refused {
			w.Sample(float64(a.m.refused[r].Load()), "app", a.name, "reason", refusedNames[r], "tenant", a.tenant.name)
		}
	}
	w.Family(famUpstreamErrors)
	for _, a := range t.apps {
		for k := range a.m.upstream {
			w.Sample(float64(a.m.upstream[k].Load()), "app", a.name, "kind", upstreamNames[k], "tenant", a.tenant.name)
		}
	}
	perApp := func(f promtext.Family, v func(*appState) uint64) {
		w.Family(f)
		for _, a := range t.apps {
			w.Sample(float64(v(a)), "app", a.name, "tenant", a.tenant.name)
		}
	}
	perApp(famBytesIn, func(a *appState) uint64 { return a.m.bytesIn.Load() })
	perApp(famBytesOut, func(a *appState) uint64 { return a.m.bytesOut.Load() })
	// A cold start is counted when its wait is: the count is the
	// histogram's.
	perApp(famColdStarts, func(a *appState) uint64 {
		c, _ := a.m.coldWait.cumulative(coldBuckets, &cum)
		return c[len(c)-1]
	})
	w.Family(famColdWait)
	for _, a := range t.apps {
		c, sum := a.m.coldWait.cumulative(coldBuckets, &cum)
		w.Histogram(coldBuckets.prom, c, sum, "app", a.name, "tenant", a.tenant.name)
	}
	perApp(famIdleStops, func(a *appState) uint64 { return a.m.idleStops.Load() })
	w.Family(famInstanceUp)
	for _, a := range t.apps {
		if a.probe.Load() == nil {
			continue
		}
		for _, u := range a.ups {
			up := 1.0
			if u.health.down.Load() {
				up = 0
			}
			w.Sample(up, "app", a.name, "tenant", a.tenant.name, "worker", strconv.Itoa(u.instance))
		}
	}
	w.Family(famDomain)
	for _, d := range t.domains {
		for cl := range d.codes {
			if v := d.codes[cl].Load(); v > 0 {
				w.Sample(float64(v), "app", d.app, "code", classNames[cl], "host", d.host, "tenant", d.tenant)
			}
		}
	}
	w.Family(famUnrouted)
	for cl := range rt.met.unrouted {
		if v := rt.met.unrouted[cl].Load(); v > 0 {
			w.Sample(float64(v), "code", classNames[cl])
		}
	}
	if rt.cfg.Certs != nil {
		w.Family(famCertExpiry)
		for _, s := range rt.cfg.Certs.Status() {
			if !s.NotAfter.IsZero() {
				w.Sample(float64(s.NotAfter.Unix()), "name", s.Domain, "tenant", s.Tenant)
			}
		}
	}
	w.Family(famRoutes)
	w.Sample(float64(len(t.routes)))
	w.Family(famApps)
	w.Sample(float64(len(t.apps)))
	w.Family(famReloads)
	w.Sample(float64(rt.met.reloadX.Load()), "result", "failure")
	w.Sample(float64(rt.met.reloadOK.Load()), "result", "success")
	w.Family(famReloadDur)
	c, sum := rt.met.reloadDur.cumulative(reloadBuckets, &cum)
	w.Histogram(reloadBuckets.prom, c, sum)
	if last := rt.met.lastReload.Load(); last > 0 {
		w.Family(famLastReload)
		w.Sample(float64(last) / 1e9)
	}
	var dropped uint64
	if d, ok := rt.access.(interface{ Dropped() uint64 }); ok {
		dropped = d.Dropped()
	}
	w.Family(famLogDropped)
	w.Sample(float64(dropped))
	version := rt.cfg.Version
	if version == "" {
		version = "dev"
	}
	w.Family(famBuildInfo)
	w.Sample(1, "goversion", runtime.Version(), "version", version)
}

// newMetrics makes the registry of the families the router serves before
// its own (writeMetrics): the Go runtime's and the process's
// (client_golang's).
func (rt *Router) newMetrics() error {
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("router: metrics: %w", err)
		}
	}
	rt.metrics = reg
	return nil
}

// MetricsWriter writes families of its own into each scrape, after the
// router's (package usage's Collector).
type MetricsWriter interface {
	WriteMetrics(w *promtext.Writer)
}

// AddMetrics adds m to every later scrape. Its family names must be its
// own.
func (rt *Router) AddMetrics(m MetricsWriter) {
	rt.writersMu.Lock()
	defer rt.writersMu.Unlock()
	rt.writers = append(rt.writers, m)
}

// AppUnit names one app of the table in use and its services.
type AppUnit struct {
	Tenant, App string
	// Services are the app's services (one per worker, and the bridge of
	// a port: app), as systemd names them; Next those of its second slot
	// (docs/OPERATIONS.md "Deploys"), none without one.
	Services, Next []string
}

// AppUnits lists the apps of the table in use, sorted by tenant and app.
func (rt *Router) AppUnits() []AppUnit {
	t := rt.table.Load()
	out := make([]AppUnit, 0, len(t.apps))
	for _, a := range t.apps {
		out = append(out, AppUnit{Tenant: a.tenant.name, App: a.name, Services: append([]string(nil), a.units...), Next: append([]string(nil), a.nextUnits...)})
	}
	return out
}

// countLoad counts a load of the routing table that began at began.
func (rt *Router) countLoad(began time.Time, err error) {
	now := time.Now()
	rt.met.reloadDur.observe(reloadBuckets, int64(now.Sub(began)))
	if err != nil {
		rt.met.reloadX.Add(1)
		return
	}
	rt.met.reloadOK.Add(1)
	rt.met.lastReload.Store(now.UnixNano())
}
