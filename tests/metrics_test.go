package tests

// TestMetrics: traffic to two tenants through the router, then a scrape of
// its metrics listener (docs/METRICS.md) inside the booted systemd shows
// the right counts per tenant, app and status class, the systemd figures
// of the apps, and nothing promtool objects to or docs/METRICS.md lacks.
// With the dashboard's test (packaging/grafana) this closes the chain:
// every query of the dashboard names a metric of METRICS.md, and every
// family the router exports is one.

import (
	"fmt"
	"math"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/internal/metricsdoc"
	"github.com/ehecoatl/ehecoatl/internal/promtool"
	"github.com/ehecoatl/ehecoatl/tests/install"
)

// sample is one line of the text format: NAME{LABELS} VALUE.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// scrape is a parsed exposition: its samples and the families' types.
type scrape struct {
	samples []sample
	types   map[string]string // family -> counter, gauge, histogram...
}

// parseScrape reads Prometheus's text format with expfmt's parser
// (metricsdoc.ReadScrape, which also refuses a series written twice) into
// the lines it holds: a histogram's or summary's series are its _bucket
// (le), quantile, _sum and _count lines, as the text has them.
func parseScrape(text string) (scrape, error) {
	fams, err := metricsdoc.ReadScrape(text)
	if err != nil {
		return scrape{}, err
	}
	s := scrape{types: map[string]string{}}
	for name, mf := range fams {
		s.types[name] = strings.ToLower(mf.GetType().String())
		for _, m := range mf.GetMetric() {
			add := func(suffix string, v float64, kv ...string) {
				smp := sample{name: name + suffix, labels: map[string]string{}, value: v}
				for _, l := range m.GetLabel() {
					smp.labels[l.GetName()] = l.GetValue()
				}
				for i := 0; i+1 < len(kv); i += 2 {
					smp.labels[kv[i]] = kv[i+1]
				}
				s.samples = append(s.samples, smp)
			}
			bound := func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
			switch {
			case m.Histogram != nil:
				h := m.Histogram
				for _, b := range h.GetBucket() {
					add("_bucket", float64(b.GetCumulativeCount()), "le", bound(b.GetUpperBound()))
				}
				if n := len(h.GetBucket()); n == 0 || !math.IsInf(h.GetBucket()[n-1].GetUpperBound(), 1) {
					add("_bucket", float64(h.GetSampleCount()), "le", "+Inf")
				}
				add("_sum", h.GetSampleSum())
				add("_count", float64(h.GetSampleCount()))
			case m.Summary != nil:
				for _, q := range m.Summary.GetQuantile() {
					add("", q.GetValue(), "quantile", bound(q.GetQuantile()))
				}
				add("_sum", m.Summary.GetSampleSum())
				add("_count", float64(m.Summary.GetSampleCount()))
			case m.Counter != nil:
				add("", m.Counter.GetValue())
			case m.Gauge != nil:
				add("", m.Gauge.GetValue())
			case m.Untyped != nil:
				add("", m.Untyped.GetValue())
			}
		}
	}
	return s, nil
}

// find returns the samples of name whose labels include want.
func (s scrape) find(name string, want map[string]string) []sample {
	var out []sample
	for _, smp := range s.samples {
		if smp.name != name {
			continue
		}
		ok := true
		for k, v := range want {
			ok = ok && smp.labels[k] == v
		}
		if ok {
			out = append(out, smp)
		}
	}
	return out
}

// sum adds the values of find(name, want).
func (s scrape) sum(name string, want map[string]string) float64 {
	t := 0.0
	for _, smp := range s.find(name, want) {
		t += smp.value
	}
	return t
}

func lbl(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestMetrics(t *testing.T) {
	h := boot(t)
	port, err := install.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	// Not the default 127.0.0.1:9808: machines share the host's network
	// namespace, so a fixed port would collide between parallel tests. The
	// address is set as an operator sets it (docs/METRICS.md): the
	// generator writes the socket unit on daemon-reload, and the socket,
	// which listened on the default since boot, is restarted.
	mport, err := install.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)
	h.sh(fmt.Sprintf(`set -e
mkdir -p /run/systemd/system/ehecoatl-router.socket.d /srv/m/tenants /srv/m/kits
printf '[Socket]\nListenStream=\nListenStream=127.0.0.1:%d\n' > /run/systemd/system/ehecoatl-router.socket.d/test.conf
printf 'EHECOATL_METRICS_LISTEN=127.0.0.1:%d\n' > /etc/default/ehecoatl-router
cp /srv/examples/tenants/initech.yaml /srv/testdata/metrics/tenants/zeta.yaml /srv/m/tenants/
cp /srv/examples/kits/static.yaml /srv/m/kits/
systemctl daemon-reload
systemctl start ehecoatl-router.socket
systemctl restart ehecoatl-router-metrics.socket`, port, mport))
	if got := h.prop("ehecoatl-router-metrics.socket", "Listen"); !strings.Contains(got, fmt.Sprintf("127.0.0.1:%d", mport)) {
		t.Fatalf("ehecoatl-router-metrics.socket listens on %q, want 127.0.0.1:%d (EHECOATL_METRICS_LISTEN)", got, mport)
	}
	h.run("ehecoatl", "apply", "/srv/m")
	r := &routed{host: h, port: port, client: &http.Client{Timeout: 60 * time.Second}}

	// Traffic, one request at a time: each app's first request is its one
	// cold start. key: tenant/app/class.
	sent := map[string]int{}
	send := func(method, host, path string, want, n int, key string) {
		t.Helper()
		for i := 0; i < n; i++ {
			req, _ := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d%s", port, path), strings.NewReader(""))
			req.Host = host
			resp, err := r.client.Do(req)
			if err != nil {
				t.Fatalf("%s %s%s: %v", method, host, path, err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Fatalf("%s %s%s: %d, want %d", method, host, path, resp.StatusCode, want)
			}
			if key != "" {
				sent[key+"/"+strconv.Itoa(want/100)+"xx"]++
			}
		}
	}
	send("GET", "initech.example.test", "/", 200, 7, "initech/site")
	send("GET", "initech.example.test", "/missing.html", 404, 3, "initech/site")
	send("POST", "initech.example.test", "/", 501, 2, "initech/site") // http.server has no do_POST
	send("GET", "zeta.test", "/", 200, 11, "zeta/web")
	send("GET", "api.zeta.test", "/", 200, 2, "zeta/api")
	send("GET", "api.zeta.test", "/healthz", 500, 4, "zeta/api")
	send("GET", "nobody.example.test", "/", 404, 2, "") // no app: unrouted
	total := 0
	for _, n := range sent {
		total += n
	}

	// A request is counted once its response's last byte is written: the
	// client may see it first.
	var s scrape
	var raw string
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, errOut, code := h.try("curl", "-sS", "--max-time", "30", "-w", "\n%{http_code} %{content_type}", metricsURL)
		i := strings.LastIndexByte(out, '\n')
		if code != 0 || i < 0 || !strings.HasPrefix(out[i+1:], "200 text/plain") {
			st, _, _ := h.try("systemctl", "status", "--no-pager", "-n", "20", "ehecoatl-router-metrics.socket", "ehecoatl-router.service")
			t.Fatalf("curl %s: exit %d %q\n%s\n%s", metricsURL, code, tail(out, 20), errOut, st)
		}
		raw = out[:i]
		if s, err = parseScrape(raw); err != nil {
			t.Fatalf("scrape: %v\n%s", err, raw)
		}
		if int(s.sum("ehecoatl_requests_total", nil)) >= total || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}

	t.Run("requests per tenant, app and class", func(t *testing.T) {
		got := map[string]int{}
		for _, smp := range s.find("ehecoatl_requests_total", nil) {
			if smp.value == 0 {
				continue
			}
			l := smp.labels
			got[l["tenant"]+"/"+l["app"]+"/"+l["code"]] += int(smp.value)
			if l["proto"] != "HTTP/1.1" {
				t.Errorf("%v: proto %q, want HTTP/1.1 (Go's client)", l, l["proto"])
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(sent) {
			t.Errorf("ehecoatl_requests_total: %v, want %v", got, sent)
		}
		if got := s.sum("ehecoatl_unrouted_requests_total", lbl("code", "4xx")); got != 2 {
			t.Errorf("ehecoatl_unrouted_requests_total{code=4xx} = %v, want 2", got)
		}
		for _, app := range [][2]string{{"initech", "site"}, {"zeta", "web"}, {"zeta", "api"}} {
			want := 0.0
			for k, n := range sent {
				if strings.HasPrefix(k, app[0]+"/"+app[1]+"/") {
					want += float64(n)
				}
			}
			l := lbl("tenant", app[0], "app", app[1])
			if got := s.sum("ehecoatl_request_duration_seconds_count", l); got != want {
				t.Errorf("ehecoatl_request_duration_seconds_count%v = %v, want %v", l, got, want)
			}
			if got := s.sum("ehecoatl_request_duration_seconds_bucket", lbl("tenant", app[0], "app", app[1], "le", "+Inf")); got != want {
				t.Errorf("%v: the +Inf bucket holds %v, want %v", l, got, want)
			}
			if got := s.sum("ehecoatl_request_duration_seconds_sum", l); !(got > 0) {
				t.Errorf("ehecoatl_request_duration_seconds_sum%v = %v, want > 0", l, got)
			}
			if got := s.sum("ehecoatl_cold_starts_total", l); got != 1 {
				t.Errorf("ehecoatl_cold_starts_total%v = %v, want 1 (its first request)", l, got)
			}
			if got := s.sum("ehecoatl_cold_start_wait_seconds_count", l); got != 1 {
				t.Errorf("ehecoatl_cold_start_wait_seconds_count%v = %v, want 1", l, got)
			}
			if got := s.sum("ehecoatl_requests_in_flight", l); got != 0 {
				t.Errorf("ehecoatl_requests_in_flight%v = %v, want 0 after the traffic", l, got)
			}
		}
		cold := lbl("tenant", "zeta", "app", "cold")
		if got := s.sum("ehecoatl_requests_total", cold) + s.sum("ehecoatl_cold_starts_total", cold); got != 0 {
			t.Errorf("zeta/cold was never requested, but its requests and cold starts add up to %v", got)
		}
		// The dashboard's tenant and app variables list the apps by it.
		if got := s.find("ehecoatl_requests_in_flight", cold); len(got) != 1 || got[0].value != 0 {
			t.Errorf("ehecoatl_requests_in_flight of the never-requested zeta/cold: %v, want one sample of 0", got)
		}
		if got := s.sum("ehecoatl_router_apps", nil); got != 4 {
			t.Errorf("ehecoatl_router_apps = %v, want 4", got)
		}
		if got := s.sum("ehecoatl_router_reloads_total", lbl("result", "success")); got < 1 {
			t.Errorf("ehecoatl_router_reloads_total{result=success} = %v, want >= 1", got)
		}
		if got := s.find("ehecoatl_build_info", nil); len(got) != 1 || got[0].value != 1 {
			t.Errorf("ehecoatl_build_info: %v, want one sample of 1", got)
		}
	})

	t.Run("systemd's figures of the apps", func(t *testing.T) {
		// The figures are the units' cgroup files, read at scrape time:
		// each is there, above zero or equal to the file and the
		// manifest, where the guest's kernel has the file, and absent
		// where it has not (a host with cgroup v1 or hybrid cgroups,
		// like this CI's, gives an nspawn guest cpu.stat in the unified
		// hierarchy but no memory or pids controller). The VM tier
		// (tests/vm/guest/cases/70-metrics.sh) has cgroup v2 and every
		// file.
		cgdir := strings.TrimSpace(h.sh("d=/sys/fs/cgroup; [ -e $d/cgroup.controllers ] || d=$d/unified; echo $d"))
		file := func(unit, name string) (string, bool) {
			cg := h.prop(unit, "ControlGroup")
			if cg == "" {
				return "", false
			}
			out, _, code := h.try("cat", cgdir+cg+"/"+name)
			return strings.TrimSpace(out), code == 0
		}
		usageUsec := func(stat string) float64 {
			for _, l := range strings.Split(stat, "\n") {
				if f := strings.Fields(l); len(f) == 2 && f[0] == "usage_usec" {
					v, _ := strconv.ParseFloat(f[1], 64)
					return v
				}
			}
			return -1
		}
		for _, app := range [][2]string{{"initech", "site"}, {"zeta", "web"}, {"zeta", "api"}} {
			unit := "ehecoatl-" + app[0] + "-" + app[1] + ".service"
			l := lbl("tenant", app[0], "app", app[1], "name", unit)
			if got := s.sum("ehecoatl_unit_state", lbl("tenant", app[0], "app", app[1], "name", unit, "state", "active")); got != 1 {
				t.Errorf("ehecoatl_unit_state%v{state=active} = %v, want 1", l, got)
			}
			if got := s.sum("ehecoatl_service_restart_total", l); got != 0 {
				t.Errorf("ehecoatl_service_restart_total%v = %v, want 0", l, got)
			}
			for metric, f := range map[string]string{
				"ehecoatl_unit_cpu_seconds_total": "cpu.stat",
				"ehecoatl_unit_memory_bytes":      "memory.current",
				"ehecoatl_unit_tasks_current":     "pids.current",
			} {
				v, ok := file(unit, f)
				got := s.find(metric, l)
				switch {
				case ok && (len(got) != 1 || !(got[0].value > 0)):
					t.Errorf("%s%v: %v, want one sample > 0 (%s: %.80q)", metric, l, got, f, v)
				case ok && f == "cpu.stat" && got[0].value > usageUsec(v)/1e6:
					t.Errorf("%s%v = %v, more than cpu.stat's usage_usec read after it (%v)", metric, l, got[0].value, usageUsec(v))
				case !ok && len(got) != 0:
					t.Errorf("%s%v: %v, want none: the guest has no %s", metric, l, got, f)
				default:
					t.Logf("%s%v: %v (%s there: %v)", metric, l, got, f, ok)
				}
			}
		}
		// Limits, as the manifests set them.
		for _, tc := range []struct {
			metric, file string
			l            map[string]string
			want         float64
		}{
			{"ehecoatl_unit_memory_max_bytes", "memory.max", lbl("tenant", "initech", "app", "", "name", "ehecoatl-initech.slice"), 128 << 20},
			{"ehecoatl_unit_tasks_max", "pids.max", lbl("tenant", "initech", "app", "", "name", "ehecoatl-initech.slice"), 64},
			{"ehecoatl_unit_memory_max_bytes", "memory.max", lbl("tenant", "initech", "app", "site", "name", "ehecoatl-initech-site.service"), 64 << 20},
			{"ehecoatl_unit_cpu_quota_ratio", "cpu.max", lbl("tenant", "zeta", "app", "", "name", "ehecoatl-zeta.slice"), 0.5},
			{"ehecoatl_unit_memory_max_bytes", "memory.max", lbl("tenant", "zeta", "app", "", "name", "ehecoatl-zeta.slice"), 256 << 20},
			{"ehecoatl_unit_memory_max_bytes", "memory.max", lbl("tenant", "zeta", "app", "web", "name", "ehecoatl-zeta-web.service"), 64 << 20},
		} {
			got := s.find(tc.metric, tc.l)
			v, ok := file(tc.l["name"], tc.file)
			switch {
			case ok && (len(got) != 1 || math.Abs(got[0].value-tc.want) > 1e-9):
				t.Errorf("%s%v: %v, want one sample of %v (the manifest's limit; %s: %q)", tc.metric, tc.l, got, tc.want, tc.file, v)
			case !ok && len(got) != 0:
				t.Errorf("%s%v: %v, want none: the guest has no %s", tc.metric, tc.l, got, tc.file)
			}
		}
		// Never started: a state, no figures.
		cold := lbl("tenant", "zeta", "app", "cold", "name", "ehecoatl-zeta-cold.service")
		if got := s.sum("ehecoatl_unit_state", lbl("tenant", "zeta", "app", "cold", "name", "ehecoatl-zeta-cold.service", "state", "inactive")); got != 1 {
			t.Errorf("ehecoatl_unit_state%v{state=inactive} = %v, want 1", cold, got)
		}
		for _, metric := range []string{"ehecoatl_unit_cpu_seconds_total", "ehecoatl_unit_memory_bytes", "ehecoatl_unit_memory_peak_bytes", "ehecoatl_unit_tasks_current"} {
			if got := s.find(metric, lbl("tenant", "zeta", "app", "cold")); len(got) != 0 {
				t.Errorf("%s of the never-started zeta/cold: %v, want none", metric, got)
			}
		}
	})

	t.Run("promtool check metrics", func(t *testing.T) {
		tool, err := promtool.Path(repo)
		if err != nil {
			t.Fatal(err)
		}
		out, code, err := promtool.Run(tool, []byte(raw), "check", "metrics")
		if err != nil || code != 0 || out != "" {
			t.Errorf("promtool check metrics: exit %d, %v:\n%s", code, err, out)
		}
	})

	t.Run("every family is in docs/METRICS.md", func(t *testing.T) {
		c, err := metricsdoc.Load(filepath.Join(repo, "docs", "METRICS.md"))
		if err != nil {
			t.Fatal(err)
		}
		var fams []string
		for f := range s.types {
			fams = append(fams, f)
		}
		sort.Strings(fams)
		for _, f := range fams {
			if c.Prefixed(f) {
				continue
			}
			m, ok := c.Metrics[f]
			if !ok || m.Type != s.types[f] {
				t.Errorf("family %s (%s) is not in docs/METRICS.md (%+v)", f, s.types[f], m)
			}
		}
		for _, smp := range s.samples {
			if c.Prefixed(smp.name) {
				continue
			}
			m, ok := c.Series(smp.name)
			if !ok {
				t.Errorf("series %s is not in docs/METRICS.md", smp.name)
				continue
			}
			for k := range smp.labels {
				if !m.HasLabel(smp.name, k) {
					t.Errorf("%s%v: label %s is not in docs/METRICS.md (%v)", smp.name, smp.labels, k, m.Labels)
				}
			}
		}
		if len(fams) < 20 {
			t.Errorf("%d families in the scrape, want the router's and the usage collector's:\n%s", len(fams), tail(raw, 60))
		}
	})

	// ehecoatl top reads the same endpoint (docs/OPERATIONS.md): every
	// tenant that got traffic is a row, and --json agrees on the requests.
	t.Run("ehecoatl top --once", func(t *testing.T) {
		out, errOut, code := h.try("ehecoatl", "top", "--once", "--metrics", metricsURL)
		t.Logf("ehecoatl top --once:\n%s", out)
		if code != 0 {
			t.Fatalf("ehecoatl top --once: exit %d\n%s", code, errOut)
		}
		for _, row := range []string{"TENANT/APP", "initech", "  site", "zeta", "  web", "  api", "  cold"} {
			if !strings.Contains(out, "\n"+row+" ") {
				t.Errorf("ehecoatl top --once has no row %q", row)
			}
		}
		js, errOut, code := h.try("ehecoatl", "top", "--json", "--metrics", metricsURL)
		if code != 0 || !strings.Contains(js, `"zeta"`) || !strings.Contains(js, `"initech"`) {
			t.Errorf("ehecoatl top --json: exit %d, %s\n%s", code, errOut, js)
		}
	})

	t.Run("OpenMetrics when asked", func(t *testing.T) {
		out, errOut, code := h.try("curl", "-sS", "--max-time", "30", "-H", "Accept: application/openmetrics-text; version=1.0.0",
			"-w", "\n%{content_type}", metricsURL)
		i := max(strings.LastIndexByte(out, '\n'), 0)
		if code != 0 || !strings.HasPrefix(out[i:], "\napplication/openmetrics-text") || !strings.HasSuffix(out[:i], "# EOF\n") {
			t.Errorf("OpenMetrics scrape: exit %d, type %q, ends %q\n%s", code, out[i+1:], tail(out[:i], 3), errOut)
		}
	})
}
