// Counting requests for the metrics (docs/METRICS.md): what the request
// path does, and nothing else. The collector (collector.go) reads these
// counters when Prometheus scrapes.

package router

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"time"

	"github.com/ehecoatl/ehecoatl/internal/promtext"
)

// Counting stays off the request path's costs: every figure is an atomic
// counter in the app's state (no map, lock, label lookup or allocation
// per request), a histogram is a fixed array of atomic bucket counts and
// a sum, and the labels are made only at scrape time. The counters of an
// app live in the registry by tenant/app, not in the appState, so that
// they survive a reload that rebuilds the app's state (its sockets
// changed), and they go with the app when a table drops it.

// Protocol indexes of appMetrics.requests.
const (
	protoHTTP10 = iota
	protoHTTP11
	protoHTTP2
	numProtos
)

var protoNames = [numProtos]string{"HTTP/1.0", "HTTP/1.1", "HTTP/2.0"}

// numClasses status classes, 1xx to 5xx.
const numClasses = 5

var classNames = [numClasses]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// codeClass is the index of a status's class; a status outside 100-599
// (none is sent) counts as 5xx.
func codeClass(status int) int {
	c := status/100 - 1
	if c < 0 || c >= numClasses {
		return numClasses - 1
	}
	return c
}

// Reasons of appMetrics.refused.
const (
	refusedTenantCap = iota
	refusedClientCap
	numRefused
)

var refusedNames = [numRefused]string{"tenant_cap", "client_cap"}

// Kinds of appMetrics.upstream.
const (
	upstreamConnect = iota
	upstreamTimeout
	upstreamReset
	numUpstream
)

var upstreamNames = [numUpstream]string{"connect", "timeout", "reset"}

// maxBuckets is the most bounds a histogram has.
const maxBuckets = 16

// buckets are a histogram's upper bounds, in nanoseconds for the request
// path and in seconds for the exposition.
type buckets struct {
	ns   []int64
	prom *promtext.Bounds
}

func newBuckets(secs ...float64) *buckets {
	if len(secs) > maxBuckets {
		panic("router: too many histogram buckets")
	}
	b := &buckets{prom: promtext.NewBounds(secs...)}
	for _, s := range secs {
		b.ns = append(b.ns, int64(s*float64(time.Second)))
	}
	return b
}

var (
	// Prometheus's default buckets (prometheus.DefBuckets): what client
	// libraries and dashboards expect of request latencies.
	durationBuckets = newBuckets(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10)
	// A cold start takes milliseconds to the start timeout (30 s).
	coldBuckets = newBuckets(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30)
	// A load of 10 routes takes about a millisecond, of 10,000 seconds.
	reloadBuckets = newBuckets(.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30)
)

// hist is a histogram: counts per bucket (not cumulative; the last is
// +Inf) and the sum in nanoseconds. The count is the sum of the buckets,
// so a scrape never shows a count that disagrees with them.
type hist struct {
	counts [maxBuckets + 1]atomic.Uint64
	sum    atomic.Int64
}

func (h *hist) observe(b *buckets, ns int64) {
	i := 0
	for i < len(b.ns) && ns > b.ns[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(ns)
}

// cumulative fills cum with the cumulative count of each bound and, last,
// the count (promtext.Writer.Histogram's form), and returns the sum in
// seconds.
func (h *hist) cumulative(b *buckets, cum *[maxBuckets + 1]uint64) ([]uint64, float64) {
	var n uint64
	for i := 0; i <= len(b.ns); i++ {
		n += h.counts[i].Load()
		cum[i] = n
	}
	return cum[:len(b.ns)+1], float64(h.sum.Load()) / 1e9
}

// appMetrics are one app's counters. The fields a request touches come
// first, together.
type appMetrics struct {
	requests          [numClasses][numProtos]atomic.Uint64
	bytesIn, bytesOut atomic.Uint64
	duration          hist
	refused           [numRefused]atomic.Uint64
	upstream          [numUpstream]atomic.Uint64
	coldWait          hist
	idleStops         atomic.Uint64
}

// domainMetrics counts the requests of one (app, domain) route pattern,
// with -metrics-per-domain (Config.MetricsPerDomain). host is the
// manifest's domain ("*.example.com" for a wildcard), never the client's
// Host, so the series are bounded by the manifests.
type domainMetrics struct {
	tenant, app, host string
	codes             [numClasses]atomic.Uint64
}

// routerMetrics are the router's own counters (and those of requests no
// app serves).
type routerMetrics struct {
	unrouted          [numClasses]atomic.Uint64
	reloadOK, reloadX atomic.Uint64
	reloadDur         hist
	// lastReload is the unix-nano time of the last successful load.
	lastReload atomic.Int64
}

// account counts one answered request: a is its app (nil: none, also
// for a route's own answers when the caller has only the route), rte its
// route (for the per-domain count), proto one of protoHTTP*.
func (rt *Router) account(rte *route, a *appState, e *AccessEntry, proto int) {
	c := codeClass(e.Status)
	if a == nil && rte != nil {
		a = rte.app // a redirect to HTTPS, an ACME challenge of a served domain
	}
	if a == nil {
		rt.met.unrouted[c].Add(1)
		return
	}
	m := a.m
	m.requests[c][proto].Add(1)
	m.duration.observe(durationBuckets, int64(e.Duration))
	if e.BytesIn > 0 {
		m.bytesIn.Add(uint64(e.BytesIn))
	}
	if e.BytesOut > 0 {
		m.bytesOut.Add(uint64(e.BytesOut))
	}
	if rte != nil && rte.dom != nil {
		rte.dom.codes[c].Add(1)
	}
}

// refused counts a request a cap answered before it reached the app.
func (a *appState) refused(reason int) { a.m.refused[reason].Add(1) }

// Upstream states for cold-start counting (upstream.warm).
const (
	// warmUnknown: the router has not seen the instance answer; whether
	// its service runs is asked (Config.Running) before the next connect.
	warmUnknown int32 = iota
	// warmYes: it answered since the router started or last stopped it.
	warmYes
	// warmNo: the router stopped it (idle stop); the next request starts it.
	warmNo
)

// coldSince says whether a request about to connect to up will find its
// service stopped, and returns when its wait began (unix ns), 0 when the
// instance runs. Only an instance not seen answering asks systemd (at
// most once per instance after the router starts): the request path of
// a running app never does.
func (rt *Router) coldSince(a *appState, up *upstream) int64 {
	if up.warm.Load() == warmYes {
		return 0
	}
	if rt.coldAsks(a, up) {
		i := max(up.instance-1, 0)
		if i >= len(a.runUnits) {
			up.warm.Store(warmYes)
			return 0
		}
		ctx, cancel := context.WithTimeout(context.Background(), failLookupTimeout)
		run, err := rt.cfg.Running(ctx, a.runUnits[i:i+1])
		cancel()
		if err != nil || len(run) != 1 || run[0] {
			up.warm.Store(warmYes)
			return 0
		}
	}
	return time.Now().UnixNano()
}

// coldAsks says whether coldSince would ask systemd about up (a D-Bus
// call, which a loop must not wait for).
func (rt *Router) coldAsks(a *appState, up *upstream) bool {
	return up.warm.Load() == warmUnknown && rt.cfg.Running != nil && len(a.runUnits) > 0
}

// answered records that up sent a response head; since (from coldSince)
// non-zero counts the request's cold start and its wait.
func (rt *Router) answered(a *appState, up *upstream, since int64) {
	if since != 0 {
		a.m.coldWait.observe(coldBuckets, time.Now().UnixNano()-since)
	}
	if up.warm.Load() != warmYes {
		up.warm.Store(warmYes)
	}
}

// upstreamKind classifies an app connection's failure for
// ehecoatl_upstream_errors_total.
func upstreamKind(err error) int {
	var de *errDial
	switch {
	case errors.As(err, &de):
		return upstreamConnect
	case errors.Is(err, os.ErrDeadlineExceeded):
		return upstreamTimeout
	}
	return upstreamReset
}
