// The router's prometheus.Collector: the counters of metrics.go and the
// router's state, read when Prometheus scrapes (docs/METRICS.md).

package router

import (
	"fmt"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

var (
	tenantApp = []string{"tenant", "app"}

	descRequests       = newDesc("ehecoatl_requests_total", "Requests answered, by status class and protocol.", "tenant", "app", "code", "proto")
	descDuration       = newDesc("ehecoatl_request_duration_seconds", "From the request's head read to the response's last byte written.", tenantApp...)
	descInFlight       = newDesc("ehecoatl_requests_in_flight", "Requests being answered now (and open WebSocket connections).", tenantApp...)
	descRefused        = newDesc("ehecoatl_requests_refused_total", "Requests refused by a cap before reaching the app.", "tenant", "app", "reason")
	descUpstreamErrors = newDesc("ehecoatl_upstream_errors_total", "Requests whose app connection failed, answered by the router.", "tenant", "app", "kind")
	descBytesIn        = newDesc("ehecoatl_request_bytes_total", "Bytes received from clients (heads and bodies).", tenantApp...)
	descBytesOut       = newDesc("ehecoatl_response_bytes_total", "Bytes sent to clients (heads and bodies).", tenantApp...)
	descUnrouted       = newDesc("ehecoatl_unrouted_requests_total", "Requests for a host no app serves, and requests refused before routing.", "code")
	descDomain         = newDesc("ehecoatl_domain_requests_total", "Requests by the route's domain (-metrics-per-domain).", "tenant", "app", "host", "code")
	descColdStarts     = newDesc("ehecoatl_cold_starts_total", "Requests that found the app stopped and waited for it to start.", tenantApp...)
	descColdWait       = newDesc("ehecoatl_cold_start_wait_seconds", "How long cold starts waited for the app's response head.", tenantApp...)
	descIdleStops      = newDesc("ehecoatl_idle_stops_total", "Stops of the app after its idle timeout.", tenantApp...)
	descInstanceUp     = newDesc("ehecoatl_instance_up", "1 when the instance passes its health checks, 0 when it is down (apps with health:).", "tenant", "app", "worker")
	descCertExpiry     = newDesc("ehecoatl_certificate_expiry_timestamp_seconds", "When the certificate the router serves for a domain expires.", "tenant", "name")
	descRoutes         = newDesc("ehecoatl_router_routes", "Domains in the routing table.")
	descApps           = newDesc("ehecoatl_router_apps", "Apps in the routing table.")
	descReloads        = newDesc("ehecoatl_router_reloads_total", "Loads of the routing table (at start and on SIGHUP).", "result")
	descReloadDur      = newDesc("ehecoatl_router_reload_duration_seconds", "How long a load of the routing table took.")
	descLastReload     = newDesc("ehecoatl_router_last_reload_success_timestamp_seconds", "When the table in use was loaded.")
	descLogDropped     = newDesc("ehecoatl_router_access_log_dropped_total", "Access log entries dropped because the journal could not keep up.")
	descBuildInfo      = newDesc("ehecoatl_build_info", "1, labelled with the router's version and Go version.", "version", "goversion")
)

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// collector is the router's prometheus.Collector.
type collector struct{ rt *Router }

// Describe sends every metric the router exports.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descDuration, descInFlight, descRefused, descUpstreamErrors,
		descBytesIn, descBytesOut, descUnrouted, descDomain, descColdStarts, descColdWait, descIdleStops,
		descInstanceUp, descCertExpiry, descRoutes, descApps, descReloads, descReloadDur, descLastReload,
		descLogDropped, descBuildInfo} {
		ch <- d
	}
}

// Collect reads the counters of the apps of the table in use: an app
// that left the table leaves the scrape with it. Requests by class and
// protocol, per domain and unrouted appear from their first request (the
// matrix is mostly zeros); the other series of an app are always there.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	rt := c.rt
	t := rt.table.Load()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, a := range t.apps {
		m, tn := a.m, a.tenant.name
		for cl := range m.requests {
			for p := range m.requests[cl] {
				if v := m.requests[cl][p].Load(); v > 0 {
					counter(descRequests, v, tn, a.name, classNames[cl], protoNames[p])
				}
			}
		}
		n, sum, b := m.duration.snapshot(durationBuckets)
		ch <- prometheus.MustNewConstHistogram(descDuration, n, sum, b, tn, a.name)
		gauge(descInFlight, float64(a.inflight.Load()), tn, a.name)
		for r := range m.refused {
			counter(descRefused, m.refused[r].Load(), tn, a.name, refusedNames[r])
		}
		for k := range m.upstream {
			counter(descUpstreamErrors, m.upstream[k].Load(), tn, a.name, upstreamNames[k])
		}
		counter(descBytesIn, m.bytesIn.Load(), tn, a.name)
		counter(descBytesOut, m.bytesOut.Load(), tn, a.name)
		n, sum, b = m.coldWait.snapshot(coldBuckets)
		counter(descColdStarts, n, tn, a.name)
		ch <- prometheus.MustNewConstHistogram(descColdWait, n, sum, b, tn, a.name)
		counter(descIdleStops, m.idleStops.Load(), tn, a.name)
		if a.probe.Load() != nil {
			for _, u := range a.ups {
				up := 1.0
				if u.health.down.Load() {
					up = 0
				}
				gauge(descInstanceUp, up, tn, a.name, strconv.Itoa(u.instance))
			}
		}
	}
	for _, d := range t.domains {
		for cl := range d.codes {
			if v := d.codes[cl].Load(); v > 0 {
				counter(descDomain, v, d.tenant, d.app, d.host, classNames[cl])
			}
		}
	}
	for cl := range rt.met.unrouted {
		if v := rt.met.unrouted[cl].Load(); v > 0 {
			counter(descUnrouted, v, classNames[cl])
		}
	}
	if rt.cfg.Certs != nil {
		for _, s := range rt.cfg.Certs.Status() {
			if !s.NotAfter.IsZero() {
				gauge(descCertExpiry, float64(s.NotAfter.Unix()), s.Tenant, s.Domain)
			}
		}
	}
	gauge(descRoutes, float64(len(t.routes)))
	gauge(descApps, float64(len(t.apps)))
	counter(descReloads, rt.met.reloadOK.Load(), "success")
	counter(descReloads, rt.met.reloadX.Load(), "failure")
	n, sum, b := rt.met.reloadDur.snapshot(reloadBuckets)
	ch <- prometheus.MustNewConstHistogram(descReloadDur, n, sum, b)
	if last := rt.met.lastReload.Load(); last > 0 {
		gauge(descLastReload, float64(last)/1e9)
	}
	var dropped uint64
	if d, ok := rt.access.(interface{ Dropped() uint64 }); ok {
		dropped = d.Dropped()
	}
	counter(descLogDropped, dropped)
	version := rt.cfg.Version
	if version == "" {
		version = "dev"
	}
	gauge(descBuildInfo, 1, version, runtime.Version())
}

// newMetrics makes the router's registry: its collector, the Go runtime's
// and the process's (client_golang's), and Config.Collectors.
func (rt *Router) newMetrics() error {
	reg := prometheus.NewRegistry()
	for _, c := range append([]prometheus.Collector{collector{rt},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})},
		rt.cfg.Collectors...) {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("router: metrics: %w", err)
		}
	}
	rt.metrics = reg
	return nil
}

// Collector is the router's own collector (without the Go and process
// collectors), for tests and for registries of others.
func (rt *Router) Collector() prometheus.Collector { return collector{rt} }

// Register adds a collector to the registry ServeMetrics serves (as
// Config.Collectors does), for one that needs the router first (package
// usage lists the apps with AppUnits).
func (rt *Router) Register(c prometheus.Collector) error { return rt.metrics.Register(c) }

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
