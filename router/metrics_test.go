package router

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/ehecoatl/ehecoatl/internal/metricsdoc"
	"github.com/ehecoatl/ehecoatl/internal/promtext"
	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/router/certs"
)

// scrape GETs the router's /metrics (its own families, ehecoatl_*) and
// returns every sample as `name{k="v",...}` (labels sorted) -> value; a
// histogram gives name_count, name_sum and name_bucket{...,le="..."}.
func scrape(t testing.TB, rt *Router) map[string]float64 {
	t.Helper()
	fams := gather(t, rt)
	out := map[string]float64{}
	for _, mf := range fams {
		for _, m := range mf.Metric {
			var ls []string
			for _, l := range m.Label {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := func(name string, extra ...string) string {
				all := append(append([]string{}, ls...), extra...)
				sort.Strings(all)
				return name + "{" + strings.Join(all, ",") + "}"
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[key(mf.GetName())] = m.Counter.GetValue()
			case dto.MetricType_GAUGE:
				out[key(mf.GetName())] = m.Gauge.GetValue()
			case dto.MetricType_HISTOGRAM:
				h := m.Histogram
				out[key(mf.GetName()+"_count")] = float64(h.GetSampleCount())
				out[key(mf.GetName()+"_sum")] = h.GetSampleSum()
				for _, b := range h.Bucket {
					out[key(mf.GetName()+"_bucket", fmt.Sprintf("le=%q", fmt.Sprint(b.GetUpperBound())))] = float64(b.GetCumulativeCount())
				}
			}
		}
	}
	return out
}

// gather GETs /metrics as text and parses the router's own families
// (ehecoatl_*), failing on a series served twice (metricsdoc.ReadScrape)
// or labels that differ within a family.
func gather(t testing.TB, rt *Router) []*dto.MetricFamily {
	t.Helper()
	w := httptest.NewRecorder()
	rt.MetricsHandler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if w.Code != 200 {
		t.Fatalf("GET /metrics: %d %s", w.Code, w.Body)
	}
	all, err := metricsdoc.ReadScrape(w.Body.String())
	if err != nil {
		t.Fatalf("/metrics: %v\n%s", err, w.Body)
	}
	var out []*dto.MetricFamily
	for name, mf := range all {
		if !strings.HasPrefix(name, "ehecoatl_") {
			continue
		}
		var names string
		for i, m := range mf.Metric {
			var ls []string
			for _, l := range m.Label {
				ls = append(ls, l.GetName())
			}
			sort.Strings(ls)
			if i == 0 {
				names = strings.Join(ls, ",")
			} else if got := strings.Join(ls, ","); got != names {
				t.Fatalf("%s: series with labels %s and %s", name, names, got)
			}
		}
		out = append(out, mf)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out
}

// ta is the label set of tenant/app with more labels, as scrape keys them.
func ta(name, tenant, app string, more ...string) string {
	ls := append([]string{fmt.Sprintf("app=%q", app), fmt.Sprintf("tenant=%q", tenant)}, more...)
	sort.Strings(ls)
	return name + "{" + strings.Join(ls, ",") + "}"
}

func lbl(k, v string) string { return fmt.Sprintf("%s=%q", k, v) }

// rawExchange sends req on a new connection and returns everything the
// router sent until it closed.
func (f *fixture) rawExchange(req string) string {
	f.t.Helper()
	c := f.send(req)
	defer c.Close()
	b, err := io.ReadAll(c)
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b)
}

func TestMetricsRequests(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("a", "web", "/", "a.test"), app("b", "api", "/", "b.test")))
	f.backend("a", "web", 0, hello("a"))
	f.backend("b", "api", 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(404)
	}))
	c := f.client()
	for i := 0; i < 3; i++ {
		if code, _, _ := f.get(c, "http://a.test/"); code != 200 {
			t.Fatal(code)
		}
	}
	f.get(c, "http://b.test/x")
	f.get(c, "http://nobody.test/")
	f.get(c, "http://nobody.test/again")
	if got := f.raw("GET / HTTP/1.0\r\nHost: a.test\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 200") {
		t.Fatal(got)
	}
	f.raw("GET / HTTP/1.1\r\nHost: a.test\r\nBad Header\r\n\r\n") // refused before routing

	m := scrape(t, f.rt)
	want := map[string]float64{
		ta("ehecoatl_requests_total", "a", "web", lbl("code", "2xx"), lbl("proto", "HTTP/1.1")): 3,
		ta("ehecoatl_requests_total", "a", "web", lbl("code", "2xx"), lbl("proto", "HTTP/1.0")): 1,
		ta("ehecoatl_requests_total", "b", "api", lbl("code", "4xx"), lbl("proto", "HTTP/1.1")): 1,
		`ehecoatl_unrouted_requests_total{code="4xx"}`:                                          3,
		ta("ehecoatl_request_duration_seconds_count", "a", "web"):                               4,
		ta("ehecoatl_request_duration_seconds_count", "b", "api"):                               1,
		ta("ehecoatl_requests_in_flight", "a", "web"):                                           0,
		ta("ehecoatl_requests_refused_total", "a", "web", lbl("reason", "tenant_cap")):          0,
		ta("ehecoatl_upstream_errors_total", "a", "web", lbl("kind", "connect")):                0,
		`ehecoatl_router_apps{}`:   2,
		`ehecoatl_router_routes{}`: 2,
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	if n := m[ta("ehecoatl_request_duration_seconds_bucket", "a", "web", lbl("le", "10"))]; n != 4 {
		t.Errorf("bucket le=10: %v", n)
	}
	for k := range m {
		if strings.Contains(k, `code="2xx"`) && strings.Contains(k, `tenant="b"`) || strings.Contains(k, "HTTP/2.0") {
			t.Errorf("a series of no request: %s", k)
		}
	}
}

// Bytes in and out are what crossed the client connection: the head and
// body of a request, the whole response, per request of a kept-alive
// connection, and in the access log.
func TestMetricsBytes(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("a", "web", "/", "a.test")))
	f.backend("a", "web", 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "got %d bytes", len(b))
	}))
	body := strings.Repeat("x", 1000)
	req1 := "POST /up HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1000\r\n\r\n" + body
	req2 := "GET /second HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"
	resp := f.rawExchange(req1 + req2)
	if strings.Count(resp, "HTTP/1.1 200") != 2 {
		t.Fatalf("responses: %q", resp)
	}
	m := scrape(t, f.rt)
	if got := m[ta("ehecoatl_request_bytes_total", "a", "web")]; got != float64(len(req1)+len(req2)) {
		t.Errorf("request bytes %v, want %d", got, len(req1)+len(req2))
	}
	if got := m[ta("ehecoatl_response_bytes_total", "a", "web")]; got != float64(len(resp)) {
		t.Errorf("response bytes %v, want %d", got, len(resp))
	}
	e := f.log.all()
	if len(e) != 2 || e[0].BytesIn != int64(len(req1)) || e[1].BytesIn != int64(len(req2)) || e[0].BytesOut+e[1].BytesOut != int64(len(resp)) {
		t.Errorf("access entries: %+v (response %d bytes)", e, len(resp))
	}
}

func TestMetricsInFlightAndRefused(t *testing.T) {
	f := newFixture(t, Config{TenantMaxInFlight: 1, ClientMaxInFlight: -1}, mkSet(app("a", "web", "/", "a.test")))
	entered, release := holdingBackend(f)
	c := f.client()
	done := make(chan int)
	go func() {
		resp, err := c.Get("http://a.test/hold")
		if err != nil {
			t.Error(err)
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-entered
	inflight := ta("ehecoatl_requests_in_flight", "a", "web")
	if got := scrape(t, f.rt)[inflight]; got != 1 {
		t.Errorf("in flight during a request: %v", got)
	}
	if code, _, _ := f.get(c, "http://a.test/"); code != 503 {
		t.Fatalf("over the tenant cap: %d", code)
	}
	close(release)
	if code := <-done; code != 200 {
		t.Fatal(code)
	}
	m := scrape(t, f.rt)
	if m[inflight] != 0 {
		t.Errorf("in flight after: %v", m[inflight])
	}
	if got := m[ta("ehecoatl_requests_refused_total", "a", "web", lbl("reason", "tenant_cap"))]; got != 1 {
		t.Errorf("refused by the tenant cap: %v", got)
	}
	if got := m[ta("ehecoatl_requests_total", "a", "web", lbl("code", "5xx"), lbl("proto", "HTTP/1.1"))]; got != 1 {
		t.Errorf("503s: %v", got)
	}
}

func TestMetricsClientCap(t *testing.T) {
	f := newFixture(t, Config{ClientMaxInFlight: 1}, mkSet(app("a", "web", "/", "a.test")))
	entered, release := holdingBackend(f)
	c := f.client()
	go func() {
		if resp, err := c.Get("http://a.test/hold"); err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	if code, _, _ := f.get(c, "http://a.test/"); code != 429 {
		t.Fatalf("over the client cap: %d", code)
	}
	close(release)
	if got := scrape(t, f.rt)[ta("ehecoatl_requests_refused_total", "a", "web", lbl("reason", "client_cap"))]; got != 1 {
		t.Errorf("refused by the client cap: %v", got)
	}
}

func TestMetricsUpstreamErrors(t *testing.T) {
	f := newFixture(t, Config{StartTimeout: 300 * time.Millisecond},
		mkSet(app("a", "dead", "/", "dead.test"), app("a", "rude", "/", "rude.test"), app("a", "slow", "/", "slow.test")))
	// rude accepts and closes at once; slow never accepts (a start that
	// does not finish within the start timeout).
	rude, err := net.Listen("unix", filepath.Join(f.runDir, "a", "rude.sock"))
	if err != nil {
		os.MkdirAll(filepath.Join(f.runDir, "a"), 0o755)
		if rude, err = net.Listen("unix", filepath.Join(f.runDir, "a", "rude.sock")); err != nil {
			t.Fatal(err)
		}
	}
	defer rude.Close()
	go func() {
		for {
			c, err := rude.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	slow, err := net.Listen("unix", filepath.Join(f.runDir, "a", "slow.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	c := f.client()
	if code, _, _ := f.get(c, "http://dead.test/"); code != 502 {
		t.Fatalf("dead: %d", code)
	}
	f.get(c, "http://rude.test/")
	if code, _, _ := f.get(c, "http://slow.test/"); code != 503 {
		t.Fatalf("slow: %d", code)
	}
	m := scrape(t, f.rt)
	for _, w := range []struct{ app, kind string }{{"dead", "connect"}, {"rude", "reset"}, {"slow", "timeout"}} {
		for _, kind := range upstreamNames {
			want := 0.0
			if kind == w.kind {
				want = 1
			}
			if got := m[ta("ehecoatl_upstream_errors_total", "a", w.app, lbl("kind", kind))]; got != want {
				t.Errorf("%s %s: %v, want %v", w.app, kind, got, want)
			}
		}
	}
}

// Cold starts: a request that finds an instance stopped (not seen
// answering, and Running says so) waits for it; idle stops count, and
// the request after one is a cold start again. A running instance is
// asked about once, and never counted.
func TestMetricsColdStartsAndIdleStops(t *testing.T) {
	web := app("acme", "web", "/", "acme.test")
	web.IdleTimeout = 200 * time.Millisecond
	hot := app("acme", "hot", "/", "hot.test")
	var mu sync.Mutex
	var asked []string
	st := &fakeStopper{}
	f := newFixture(t, Config{Stopper: st, IdleCheckInterval: 20 * time.Millisecond,
		Running: func(_ context.Context, units []string) ([]bool, error) {
			mu.Lock()
			defer mu.Unlock()
			asked = append(asked, units...)
			return []bool{units[0] == "ehecoatl-acme-hot.service"}, nil
		}}, mkSet(web, hot))
	// web's socket accepts only after 150 ms: the app starting.
	path := filepath.Join(f.runDir, "acme", "web.sock")
	os.MkdirAll(filepath.Dir(path), 0o755)
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: hello("web")}
	defer srv.Close()
	go func() { time.Sleep(150 * time.Millisecond); srv.Serve(l) }()
	f.backend("acme", "hot", 0, hello("hot"))
	c := f.client()
	f.get(c, "http://acme.test/")
	f.get(c, "http://acme.test/")
	f.get(c, "http://hot.test/")
	f.get(c, "http://hot.test/")
	m := scrape(t, f.rt)
	if got := m[ta("ehecoatl_cold_starts_total", "acme", "web")]; got != 1 {
		t.Errorf("web cold starts: %v", got)
	}
	if got := m[ta("ehecoatl_cold_start_wait_seconds_sum", "acme", "web")]; got < 0.1 {
		t.Errorf("web waited %vs", got)
	}
	if got := m[ta("ehecoatl_cold_start_wait_seconds_bucket", "acme", "web", lbl("le", "0.1"))]; got != 0 {
		t.Errorf("a wait of 150 ms in the 0.1 bucket: %v", got)
	}
	if got := m[ta("ehecoatl_cold_starts_total", "acme", "hot")]; got != 0 {
		t.Errorf("hot cold starts: %v", got)
	}
	mu.Lock()
	if strings.Join(asked, " ") != "ehecoatl-acme-web.service ehecoatl-acme-hot.service" {
		t.Errorf("asked systemd about %v", asked)
	}
	mu.Unlock()
	idle := ta("ehecoatl_idle_stops_total", "acme", "web")
	waitFor(t, "an idle stop", func() bool { return scrape(t, f.rt)[idle] == 1 })
	f.get(c, "http://acme.test/")
	m = scrape(t, f.rt)
	if got := m[ta("ehecoatl_cold_starts_total", "acme", "web")]; got != 2 {
		t.Errorf("web cold starts after the idle stop: %v", got)
	}
	if got := m[ta("ehecoatl_idle_stops_total", "acme", "hot")]; got != 0 {
		t.Errorf("hot idle stops: %v", got)
	}
	mu.Lock()
	if len(asked) != 2 {
		t.Errorf("asked systemd again after the idle stop: %v", asked)
	}
	mu.Unlock()
}

// The counters of an app survive reloads, also one that rebuilds its
// state (new sockets); an app the table drops drops its series, and
// comes back from zero.
func TestMetricsSurviveReload(t *testing.T) {
	web := app("a", "web", "/", "a.test")
	other := app("b", "web", "/", "b.test")
	f := newFixture(t, Config{}, mkSet(web, other))
	f.backend("a", "web", 0, hello("a"))
	f.backend("a", "web", 1, hello("a1"))
	f.backend("a", "web", 2, hello("a2"))
	f.backend("b", "web", 0, hello("b"))
	c := f.client()
	for i := 0; i < 5; i++ {
		f.get(c, "http://a.test/")
	}
	f.get(c, "http://b.test/")
	key := ta("ehecoatl_requests_total", "a", "web", lbl("code", "2xx"), lbl("proto", "HTTP/1.1"))
	bkey := ta("ehecoatl_requests_total", "b", "web", lbl("code", "2xx"), lbl("proto", "HTTP/1.1"))
	if got := scrape(t, f.rt)[key]; got != 5 {
		t.Fatalf("before: %v", got)
	}
	if err := f.rt.SetManifests(mkSet(web, other)); err != nil { // same table
		t.Fatal(err)
	}
	two := app("a", "web", "/", "a.test")
	two.Workers = 2 // new sockets: a new appState
	if err := f.rt.SetManifests(mkSet(two, other)); err != nil {
		t.Fatal(err)
	}
	f.get(c, "http://a.test/")
	m := scrape(t, f.rt)
	if m[key] != 6 || m[bkey] != 1 {
		t.Fatalf("after reloads: a %v (want 6), b %v (want 1)", m[key], m[bkey])
	}
	if err := f.rt.SetManifests(mkSet(two)); err != nil {
		t.Fatal(err)
	}
	for k := range scrape(t, f.rt) {
		if strings.Contains(k, `tenant="b"`) {
			t.Errorf("a series of a removed app: %s", k)
		}
	}
	if err := f.rt.SetManifests(mkSet(two, other)); err != nil {
		t.Fatal(err)
	}
	if got, ok := scrape(t, f.rt)[bkey]; ok {
		t.Errorf("a re-added app starts with %v requests", got)
	}
}

func TestMetricsPerDomain(t *testing.T) {
	a := app("a", "web", "/", "a.test", "*.wild.test")
	for _, on := range []bool{false, true} {
		f := newFixture(t, Config{MetricsPerDomain: on}, mkSet(a))
		f.backend("a", "web", 0, hello("a"))
		c := f.client()
		f.get(c, "http://a.test/")
		f.get(c, "http://x.wild.test/")
		f.get(c, "http://y.wild.test/")
		if err := f.rt.SetManifests(mkSet(a)); err != nil {
			t.Fatal(err)
		}
		m := scrape(t, f.rt)
		exact := ta("ehecoatl_domain_requests_total", "a", "web", lbl("host", "a.test"), lbl("code", "2xx"))
		wild := ta("ehecoatl_domain_requests_total", "a", "web", lbl("host", "*.wild.test"), lbl("code", "2xx"))
		if !on {
			for k := range m {
				if strings.HasPrefix(k, "ehecoatl_domain_requests_total") {
					t.Errorf("without -metrics-per-domain: %s", k)
				}
			}
			continue
		}
		if m[exact] != 1 || m[wild] != 2 {
			t.Errorf("per domain: %v %v", m[exact], m[wild])
		}
	}
}

func TestMetricsHTTP2(t *testing.T) {
	f, fc := h2Fixture(t, Config{}, app("a", "web", "/", "a.example.com"))
	f.backend("a", "web", 0, hello("a"))
	c, _ := f.h2Client(fc.pool)
	h2Get(t, c, "https://a.example.com/", "")
	m := scrape(t, f.rt)
	if got := m[ta("ehecoatl_requests_total", "a", "web", lbl("code", "2xx"), lbl("proto", "HTTP/2.0"))]; got != 1 {
		t.Errorf("HTTP/2 requests: %v", got)
	}
	if m[ta("ehecoatl_request_bytes_total", "a", "web")] < float64(len("GET / HTTP/1.1\r\nHost: a.example.com\r\n\r\n")) ||
		m[ta("ehecoatl_response_bytes_total", "a", "web")] < float64(len("hello from a")) {
		t.Errorf("HTTP/2 bytes: %v in, %v out", m[ta("ehecoatl_request_bytes_total", "a", "web")], m[ta("ehecoatl_response_bytes_total", "a", "web")])
	}
}

func TestMetricsInstancesAndCertificates(t *testing.T) {
	checked := app("a", "web", "/", "a.test")
	checked.Health = "/healthz"
	checked.Workers = 2
	notAfter := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	fc := &statusCerts{newFakeCerts(t, "a.test"), []certs.DomainStatus{
		{Domain: "a.test", Tenant: "a", Mode: certs.Auto, State: "valid", NotAfter: notAfter},
		{Domain: "pending.test", Tenant: "a", Mode: certs.Auto, State: "pending"},
	}}
	f := newFixture(t, Config{Certs: fc, HealthInterval: time.Hour}, mkSet(checked, app("b", "web", "/", "b.test")))
	for _, a := range f.rt.Table().apps {
		if a.name == "web" && a.tenant.name == "a" {
			a.ups[1].health.down.Store(true)
		}
	}
	m := scrape(t, f.rt)
	if m[ta("ehecoatl_instance_up", "a", "web", lbl("worker", "1"))] != 1 || m[ta("ehecoatl_instance_up", "a", "web", lbl("worker", "2"))] != 0 {
		t.Errorf("instances: %v", m)
	}
	for k := range m {
		if strings.HasPrefix(k, "ehecoatl_instance_up") && strings.Contains(k, `tenant="b"`) {
			t.Errorf("an app without health: %s", k)
		}
	}
	if got := m[`ehecoatl_certificate_expiry_timestamp_seconds{name="a.test",tenant="a"}`]; got != float64(notAfter.Unix()) {
		t.Errorf("expiry %v", got)
	}
	if _, ok := m[`ehecoatl_certificate_expiry_timestamp_seconds{name="pending.test",tenant="a"}`]; ok {
		t.Errorf("an expiry for a certificate not issued")
	}
}

func TestMetricsReloads(t *testing.T) {
	var fail bool
	set := mkSet(app("a", "web", "/", "a.test"))
	f := newFixture(t, Config{Load: func(string) (*manifest.Set, error) {
		if fail {
			return nil, fmt.Errorf("broken")
		}
		return set, nil
	}}, nil)
	before := time.Now()
	f.rt.Reload()
	fail = true
	f.rt.Reload()
	m := scrape(t, f.rt)
	if m[`ehecoatl_router_reloads_total{result="success"}`] != 2 || m[`ehecoatl_router_reloads_total{result="failure"}`] != 1 ||
		m[`ehecoatl_router_reload_duration_seconds_count{}`] != 3 {
		t.Errorf("reloads: %v", m)
	}
	if last := m[`ehecoatl_router_last_reload_success_timestamp_seconds{}`]; last < float64(before.Unix()) || last > float64(time.Now().Unix()+1) {
		t.Errorf("last reload %v", last)
	}
	if m[`ehecoatl_build_info{goversion="`+runtime.Version()+`",version="dev"}`] != 1 {
		t.Errorf("build info: %v", m)
	}
}

// blockWriter blocks every write until closed.
type blockWriter chan struct{}

func (b blockWriter) Write(p []byte) (int, error) { <-b; return len(p), nil }

func TestMetricsAccessLogDropped(t *testing.T) {
	w := make(blockWriter)
	l := NewAccessLog(w)
	f := newFixture(t, Config{AccessLog: l}, nil)
	for i := 0; i < 20000; i++ {
		l.Log(AccessEntry{})
	}
	got := scrape(t, f.rt)[`ehecoatl_router_access_log_dropped_total{}`]
	if got < 1000 || got != float64(l.Dropped()) {
		t.Errorf("dropped %v (log says %d)", got, l.Dropped())
	}
	close(w)
	l.Close()
}

// The metrics listener serves /metrics (text and OpenMetrics) and
// nothing else: no tenant's route is reachable there.
func TestMetricsHandler(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("a", "web", "/", "a.test")))
	f.backend("a", "web", 0, hello("a"))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- f.rt.ServeMetrics(ctx, l) }()
	base := "http://" + l.Addr().String()
	get := func(path, accept string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Host = "a.test"
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get("/metrics", "")
	if resp.StatusCode != 200 || !strings.Contains(body, "ehecoatl_router_routes 1\n") || !strings.Contains(body, "go_goroutines") ||
		!strings.Contains(body, "process_cpu_seconds_total") {
		t.Fatalf("%d %q", resp.StatusCode, body[:min(len(body), 400)])
	}
	resp, body = get("/metrics", "application/openmetrics-text; version=1.0.0")
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/openmetrics-text") || !strings.HasSuffix(body, "# EOF\n") ||
		strings.Count(body, "# EOF") != 1 || !strings.Contains(body, "# TYPE ehecoatl_request_bytes counter\n") ||
		!strings.Contains(body, "\nehecoatl_request_bytes_total{app=\"web\",tenant=\"a\"} 0.0\n") || !strings.Contains(body, "go_goroutines") {
		t.Errorf("OpenMetrics: %s\n%s", resp.Header.Get("Content-Type"), body)
	}
	// gzip, as Prometheus asks for it.
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	if resp, err := http.DefaultTransport.RoundTrip(req); err != nil {
		t.Error(err)
	} else {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil || resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("gzip: %v, Content-Encoding %q", err, resp.Header.Get("Content-Encoding"))
		}
		b, _ := io.ReadAll(zr)
		resp.Body.Close()
		if !strings.Contains(string(b), "ehecoatl_router_routes 1\n") || !strings.Contains(string(b), "go_goroutines") {
			t.Errorf("gzipped scrape: %q", b[:min(len(b), 300)])
		}
	}
	for _, p := range []string{"/", "/metrics/", "/x"} {
		if resp, body := get(p, ""); resp.StatusCode != 404 || strings.Contains(body, "hello") {
			t.Errorf("%s: %d %q", p, resp.StatusCode, body)
		}
	}
	if resp, err := http.Post(base+"/metrics", "text/plain", nil); err != nil || resp.StatusCode != 405 {
		t.Errorf("POST: %v %v", resp, err)
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

// The collector describes exactly the metrics of docs/METRICS.md's
// tables "Requests", "Activation" and "The router itself" (the "Usage"
// table is package usage's), with their labels, and what it collects has
// the table's type.
func TestMetricsContract(t *testing.T) {
	c, err := metricsdoc.Load("../docs/METRICS.md")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(c.Section("Requests")) + len(c.Section("Activation")) + len(c.Section("The router itself")); n < 20 {
		t.Fatalf("read only %d metrics from docs/METRICS.md", n)
	}
	// Every family has series: per domain on, health checks, a
	// certificate, a routed and an unrouted request.
	web := app("a", "web", "/", "a.test")
	web.Health = "/h"
	f := newFixture(t, Config{MetricsPerDomain: true, Certs: &statusCerts{newFakeCerts(t, "a.test"),
		[]certs.DomainStatus{{Domain: "a.test", Tenant: "a", NotAfter: time.Now()}}},
		Load: func(string) (*manifest.Set, error) { return mkSet(web), nil }}, nil)
	f.backend("a", "web", 0, hello("a"))
	f.get(f.client(), "http://a.test/")
	f.get(f.client(), "http://nobody.test/")
	got := map[string]*dto.MetricFamily{}
	for _, mf := range gather(t, f.rt) {
		got[mf.GetName()] = mf
	}
	for _, finding := range c.Check(got, "Requests", "Activation", "The router itself") {
		t.Error(finding)
	}
}

// BenchmarkCollect1000Apps is the writing of the router's own families
// with 1,000 apps that all had requests (a scrape without the HTTP, the
// registry's families and gzip).
func BenchmarkCollect1000Apps(b *testing.B) {
	rt := routerWithTraffic(b, 1000, "web")
	var buf []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w := promtext.NewWriter(buf[:0], false)
		rt.writeMetrics(w)
		buf = w.Bytes()
	}
	b.ReportMetric(float64(len(buf)), "bytes/scrape")
}

// BenchmarkAccount is the request path's share of the metrics.
func BenchmarkAccount(b *testing.B) {
	rt, err := New(Config{RunDir: b.TempDir(), Logger: quietLogger(b), AccessLog: discardLog{}, Notify: func(string) {}})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close()
	if err := rt.SetManifests(mkSet(app("a", "web", "/", "a.test"))); err != nil {
		b.Fatal(err)
	}
	a := rt.Table().apps[0]
	e := AccessEntry{Status: 200, Duration: 3 * time.Millisecond, BytesIn: 100, BytesOut: 1000}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rt.account(nil, a, &e, protoHTTP11)
		}
	})
}

// BenchmarkScrape2000Apps is one GET /metrics of the router's own
// families (no usage) with 1,000 tenants of 2 apps that all had requests,
// as text and as Prometheus asks for it (gzip).
func BenchmarkScrape2000Apps(b *testing.B) {
	h := routerWithTraffic(b, 1000, "web", "api").MetricsHandler()
	for _, enc := range []string{"identity", "gzip"} {
		b.Run(enc, func(b *testing.B) {
			b.ReportAllocs()
			var size int
			for i := 0; i < b.N; i++ {
				req := httptest.NewRequest("GET", "/metrics", nil)
				req.Header.Set("Accept-Encoding", enc)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("GET /metrics: %d", w.Code)
				}
				size = w.Body.Len()
			}
			b.ReportMetric(float64(size), "bytes/scrape")
		})
	}
}

// routerWithTraffic is a router of tenants t0... with the named apps each
// (one domain per tenant, a path per app), every app with one request
// counted.
func routerWithTraffic(b *testing.B, tenants int, names ...string) *Router {
	var apps []*manifest.App
	for i := 0; i < tenants; i++ {
		for _, name := range names {
			apps = append(apps, app(fmt.Sprintf("t%d", i), name, "/"+name, fmt.Sprintf("d%d.test", i)))
		}
	}
	rt, err := New(Config{RunDir: b.TempDir(), Logger: quietLogger(b), AccessLog: discardLog{}, Notify: func(string) {}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rt.Close() })
	if err := rt.SetManifests(mkSet(apps...)); err != nil {
		b.Fatal(err)
	}
	for _, a := range rt.Table().apps {
		e := AccessEntry{Status: 200, Duration: time.Millisecond, BytesIn: 100, BytesOut: 1000}
		rt.account(nil, a, &e, protoHTTP11)
	}
	return rt
}

// holdingBackend serves a/web, holding each request for /hold until
// release is closed; entered is sent a value as each one arrives.
func holdingBackend(f *fixture) (entered chan struct{}, release chan struct{}) {
	entered, release = make(chan struct{}, 1), make(chan struct{})
	f.backend("a", "web", 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			entered <- struct{}{}
			<-release
		}
	}))
	return entered, release
}
