package top

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// scrapes parses testdata/DIR/a.prom and b.prom, one second apart.
func scrapes(t *testing.T, dir string) (a, b *Scrape) {
	t.Helper()
	for i, name := range []string{"a.prom", "b.prom"} {
		f, err := os.Open(filepath.Join("testdata", dir, name))
		if err != nil {
			t.Fatal(err)
		}
		s, err := Parse(f, t0.Add(time.Duration(i)*time.Second))
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			a = s
		} else {
			b = s
		}
	}
	return a, b
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s--- want\n%s", name, got, want)
	}
}

// Scrape pairs of testdata/ (the example tenants busy, and with no
// traffic at all) as the table, by every sort, and as JSON.
func TestGolden(t *testing.T) {
	for _, c := range []struct{ dir, sort string }{
		{"examples", "cpu"}, {"examples", "memory"}, {"examples", "rps"}, {"examples", "errors"},
		{"zero", "cpu"},
	} {
		t.Run(c.dir+"/"+c.sort, func(t *testing.T) {
			a, b := scrapes(t, c.dir)
			v, err := Build(a, b, c.sort)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			Table(&buf, v)
			golden(t, c.dir+"."+c.sort+".txt", buf.Bytes())
			for i, l := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
				if n := utf8.RuneCountInString(l); n > 80 {
					t.Errorf("line %d is %d columns wide: %q", i+1, n, l)
				}
			}
			if c.sort == "cpu" {
				buf.Reset()
				JSON(&buf, v)
				golden(t, c.dir+".json", buf.Bytes())
			}
		})
	}
}

// The figures behind the golden files, checked one by one.
func TestBuildFigures(t *testing.T) {
	a, b := scrapes(t, "examples")
	v, err := Build(a, b, "cpu")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[Key]Row{}
	var order []string
	for _, tr := range v.Tenants {
		rows[Key{tr.Tenant, ""}] = tr
		order = append(order, tr.Tenant)
		for _, ar := range tr.Apps {
			rows[Key{ar.Tenant, ar.App}] = ar
		}
	}
	near := func(p *float64, want float64) bool { return p != nil && *p > want-1e-6 && *p < want+1e-6 }
	if got := strings.Join(order, " "); got != "umbrella acme globex initech" {
		t.Errorf("tenants by CPU: %s", got)
	}
	api := rows[Key{"umbrella", "api"}]
	// Two workers: CPU, memory, limits and tasks summed; 120 requests, 2 of them 5xx.
	if !near(api.CPUPercent, 33) || !near(api.MemoryBytes, 118<<20) || !near(api.MemoryMaxBytes, 128<<20) || !near(api.Tasks, 18) ||
		!near(api.RequestsPerSecond, 122) || !near(api.ErrorsPerSecond, 2) || api.State != "running" {
		t.Errorf("umbrella/api %+v", show(api))
	}
	web := rows[Key{"acme", "web"}]
	if !near(web.RequestsPerSecond, 54) || !near(web.ErrorsPerSecond, 1) || !near(web.CPUPercent, 11) {
		t.Errorf("acme/web %+v", show(web))
	}
	acme := rows[Key{"acme", ""}]
	// The tenant's CPU is its slice's; its requests its apps'.
	if !near(acme.CPUPercent, 12) || !near(acme.MemoryMaxBytes, 512<<20) || !near(acme.RequestsPerSecond, 54) || acme.State != "running" {
		t.Errorf("acme %+v", show(acme))
	}
	if s := rows[Key{"globex", "www"}].State; s != "inactive" {
		t.Errorf("globex/www is %s, want inactive", s)
	}
	if s := rows[Key{"initech", ""}].State; s != "failed" {
		t.Errorf("initech is %s, want failed (its app failed)", s)
	}
	if u := rows[Key{"umbrella", ""}]; u.MemoryMaxBytes != nil || !near(u.MemoryBytes, 150<<20) {
		t.Errorf("umbrella (no memory limit) %+v", show(u))
	}
	tt := v.Totals
	if tt.Tenants != 4 || tt.Apps != 5 || tt.Running != 2 || !near(tt.RequestsPerSecond, 122+54+2+1) || !near(tt.ErrorsPerSecond, 2+1+2) {
		t.Errorf("totals %+v", tt)
	}
}

func show(r Row) map[string]any {
	b, _ := json.Marshal(r)
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

// Without a previous scrape there are no rates (shown as "-"), the rest
// is known; a counter that went down (a restart) counts from zero.
func TestRatesFirstAndReset(t *testing.T) {
	a, b := scrapes(t, "examples")
	v, _ := Build(nil, a, "cpu")
	for _, tr := range v.Tenants {
		if tr.CPUPercent != nil || tr.RequestsPerSecond != nil {
			t.Errorf("%s has rates without a previous scrape", tr.Tenant)
		}
	}
	if v.Totals.RequestsPerSecond != nil || v.Interval != 0 {
		t.Errorf("totals %+v, interval %v", v.Totals, v.Interval)
	}
	var buf bytes.Buffer
	Table(&buf, v)
	if !strings.Contains(buf.String(), "- req/s") {
		t.Errorf("no rates shown as -:\n%s", buf.String())
	}
	// b then a: every counter went down, as after a restart.
	b.At, a.At = t0, t0.Add(2*time.Second)
	v, _ = Build(b, a, "rps")
	api := v.Tenants[0].Apps[0]
	if v.Tenants[0].Tenant != "umbrella" || api.App != "api" || *api.RequestsPerSecond != 5010.0/2 {
		t.Errorf("after a reset: %+v", show(v.Tenants[0]))
	}
}

// Sockets' states, where a scrape has them, tell idle from stopped.
func TestAppState(t *testing.T) {
	for want, u := range map[string]*Usage{
		"idle":     {States: map[string]string{"a.service": "inactive"}, Sockets: map[string]string{"a.socket": "active"}},
		"stopped":  {States: map[string]string{"a.service": "inactive"}, Sockets: map[string]string{"a.socket": "inactive"}},
		"inactive": {States: map[string]string{"a.service": "inactive"}},
		"running":  {States: map[string]string{"a@1.service": "inactive", "a@2.service": "active"}},
		"failed":   {States: map[string]string{"a@1.service": "failed", "a@2.service": "active"}},
		"starting": {States: map[string]string{"a.service": "activating"}},
		"-":        {},
	} {
		if got := appState(u); got != want {
			t.Errorf("%v: %s, want %s", u.States, got, want)
		}
	}
}

func TestSortRefused(t *testing.T) {
	if _, err := Build(nil, &Scrape{}, "name"); err == nil {
		t.Error("sort by name accepted")
	}
}

// A short terminal shows what fits and counts the rest.
func TestLinesHeight(t *testing.T) {
	a, b := scrapes(t, "examples")
	v, _ := Build(a, b, "cpu")
	lines := Lines(v, 6)
	if len(lines) != 6 || !strings.HasPrefix(lines[5], "... 6 more") {
		t.Errorf("6 lines:\n%s", strings.Join(lines, "\n"))
	}
}

// Run against a server answering the two scrapes: --once prints the
// table, --json the JSON, each after two scrapes; a live run on a
// terminal redraws in place and leaves the screen clean on Ctrl-C.
func TestRun(t *testing.T) {
	var n atomic.Int32
	files := []string{"testdata/examples/a.prom", "testdata/examples/b.prom"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" || !strings.HasPrefix(r.Header.Get("Accept"), "text/plain") {
			http.Error(w, "no", 404)
			return
		}
		b, _ := os.ReadFile(files[min(int(n.Add(1))-1, 1)])
		w.Write(b)
	}))
	defer srv.Close()
	o := Options{URL: srv.URL + "/metrics", Sort: "cpu", Interval: 50 * time.Millisecond, Client: srv.Client()}

	var out bytes.Buffer
	o.Once = true
	if err := Run(context.Background(), &out, o); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 2 || !strings.Contains(out.String(), "TENANT/APP") || !strings.Contains(out.String(), "  api ") {
		t.Errorf("%d scrapes, --once printed:\n%s", n.Load(), out.String())
	}

	n.Store(0)
	out.Reset()
	o.Once, o.JSON = false, true
	if err := Run(context.Background(), &out, o); err != nil {
		t.Fatal(err)
	}
	var v View
	if err := json.Unmarshal(out.Bytes(), &v); err != nil || len(v.Tenants) != 4 || v.Interval <= 0 || n.Load() != 2 {
		t.Errorf("--json: %v, %d tenants, interval %v:\n%s", err, len(v.Tenants), v.Interval, out.String())
	}

	n.Store(0)
	out.Reset()
	o.JSON, o.Terminal, o.Height = false, true, func() int { return 24 }
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Millisecond)
	defer cancel()
	if err := Run(ctx, &out, o); err != nil {
		t.Fatalf("live run ended by its context: %v", err)
	}
	s := out.String()
	if !strings.HasPrefix(s, enterScreen) || !strings.HasSuffix(s, leaveScreen) || strings.Count(s, home) < 2 {
		t.Errorf("live output does not redraw in place on the alternate screen: %q", s)
	}
}

// No endpoint: the first scrape's error says what was asked.
func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String() + "/metrics"
	l.Close() // nothing listens there now
	err = Run(context.Background(), &bytes.Buffer{}, Options{URL: url, Sort: "cpu", Interval: time.Millisecond, Once: true, Client: http.DefaultClient})
	var ue *UnreachableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), url) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error %v", err)
	}
}

func TestEndpointURL(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ file, want, err string }{
		{"", "http://127.0.0.1:9808/metrics", ""},
		{"EHECOATL_METRICS_LISTEN=\n", "http://127.0.0.1:9808/metrics", ""},
		{"# EHECOATL_METRICS_LISTEN=off\nEHECOATL_METRICS_LISTEN=\"10.0.0.5:9100\"\n", "http://10.0.0.5:9100/metrics", ""},
		{"EHECOATL_METRICS_LISTEN='[::]:9808'\n", "http://[::1]:9808/metrics", ""},
		{"EHECOATL_METRICS_LISTEN=0.0.0.0:9808\n", "http://127.0.0.1:9808/metrics", ""},
		{"EHECOATL_METRICS_LISTEN=\"off\"\n", "", "is off (EHECOATL_METRICS_LISTEN=off in"},
		{"EHECOATL_METRICS_LISTEN=9808\n", "", "missing port"},
	} {
		path := filepath.Join(dir, "default")
		os.Remove(path)
		if c.file != "" {
			os.WriteFile(path, []byte(c.file), 0o644)
		}
		got, err := EndpointURL(path)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: error %v, want %q", c.file, err, c.err)
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("%q: %q, %v; want %q", c.file, got, err, c.want)
		}
	}
}
