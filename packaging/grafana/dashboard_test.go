package grafana

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ehecoatl/ehecoatl/internal/metricsdoc"
	"github.com/ehecoatl/ehecoatl/internal/promtool"
)

var (
	repo      = filepath.Join("..", "..")
	dashboard = filepath.Join(repo, "examples", "grafana", "ehecoatl.json")
	// The classic JSON model's last schema (Grafana 12 and 13 import it).
	schemaVersion = 42.0
)

// Labels Prometheus adds to every series at scrape time.
var targetLabels = []string{"instance", "job"}

type panel struct {
	ID         int                      `json:"id"`
	Type       string                   `json:"type"`
	Title      string                   `json:"title"`
	Datasource *datasource              `json:"datasource"`
	GridPos    struct{ X, Y, W, H int } `json:"gridPos"`
	Targets    []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type variable struct {
	Type       string          `json:"type"`
	Name       string          `json:"name"`
	Query      json.RawMessage `json:"query"`
	Definition string          `json:"definition"`
	Datasource *datasource     `json:"datasource"`
}

type model struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion float64 `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

// query is one PromQL expression of the dashboard and where it is.
type query struct{ where, expr string }

func load(t *testing.T) (model, []query) {
	t.Helper()
	b, err := os.ReadFile(dashboard)
	if err != nil {
		t.Fatal(err)
	}
	var d model
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboard, err)
	}
	var qs []query
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			for _, tg := range p.Targets {
				qs = append(qs, query{fmt.Sprintf("panel %q target %s", p.Title, tg.RefID), tg.Expr})
			}
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		// The query is an object of the Prometheus editor, or a string.
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			if err := json.Unmarshal(v.Query, &q.Query); err != nil {
				t.Fatalf("variable %s: query %s", v.Name, v.Query)
			}
		}
		if q.Query != v.Definition {
			t.Errorf("variable %s: query %q, definition %q: Grafana shows the definition, runs the query", v.Name, q.Query, v.Definition)
		}
		qs = append(qs, query{"variable " + v.Name, q.Query})
	}
	return d, qs
}

// labelValues is Grafana's variable query label_values(SELECTOR, LABEL).
var labelValues = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)

// TestDashboardNamesTheContract: every query of the dashboard selects only
// metrics of docs/METRICS.md, with their labels; METRICS.md is what the
// router's collectors export (router/metrics_test.go) and what a real
// scrape holds (tests/metrics_test.go).
func TestDashboardNamesTheContract(t *testing.T) {
	c, err := metricsdoc.Load(filepath.Join(repo, "docs", "METRICS.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, qs := load(t)
	if len(qs) < 20 {
		t.Fatalf("%d queries read from the dashboard, want its panels' and variables'", len(qs))
	}
	used := map[string]bool{}
	for _, q := range qs {
		expr, label := q.expr, ""
		if m := labelValues.FindStringSubmatch(expr); m != nil {
			expr, label = m[1], m[2]
		} else if strings.HasPrefix(expr, "label_values(") {
			t.Errorf("%s: %q is not label_values(SELECTOR, LABEL)", q.where, q.expr)
			continue
		}
		names, err := Names(expr)
		if err != nil {
			t.Errorf("%s: %v", q.where, err)
			continue
		}
		var metrics []metricsdoc.Metric
		for _, s := range names.Selectors {
			m, ok := c.Series(s.Metric)
			if !ok {
				t.Errorf("%s: %s is not a series of docs/METRICS.md", q.where, s.Metric)
				continue
			}
			used[m.Name] = true
			metrics = append(metrics, m)
			for _, l := range s.Labels {
				if !m.HasLabel(s.Metric, l) && !slices.Contains(targetLabels, l) {
					t.Errorf("%s: %s has no label %s in docs/METRICS.md (%v)", q.where, s.Metric, l, m.Labels)
				}
			}
		}
		// A label of a grouping or of label_values must be one of some
		// selected series'.
		for _, l := range append(names.Grouping, label) {
			if l == "" || slices.Contains(targetLabels, l) {
				continue
			}
			found := false
			for i, m := range metrics {
				found = found || m.HasLabel(names.Selectors[i].Metric, l)
			}
			if !found && len(metrics) == len(names.Selectors) {
				t.Errorf("%s: no metric of %q has the label %s", q.where, q.expr, l)
			}
		}
	}
	// What the issue asks the dashboard to show.
	for _, m := range []string{
		"ehecoatl_requests_total", "ehecoatl_request_duration_seconds", "ehecoatl_requests_in_flight",
		"ehecoatl_requests_refused_total", "ehecoatl_upstream_errors_total", "ehecoatl_cold_starts_total",
		"ehecoatl_cold_start_wait_seconds", "ehecoatl_idle_stops_total", "ehecoatl_unit_cpu_seconds_total",
		"ehecoatl_unit_cpu_quota_ratio", "ehecoatl_unit_memory_bytes", "ehecoatl_unit_memory_max_bytes",
		"ehecoatl_unit_tasks_current", "ehecoatl_service_restart_total", "ehecoatl_router_reloads_total",
	} {
		if !used[m] {
			t.Errorf("no query of the dashboard shows %s", m)
		}
	}
}

// TestDashboardModel checks what Grafana needs to import the dashboard
// into any Prometheus data source and filter it by tenant and app.
func TestDashboardModel(t *testing.T) {
	d, _ := load(t)
	if d.SchemaVersion != schemaVersion || d.UID != "ehecoatl" || d.Title == "" {
		t.Errorf("schemaVersion %v, uid %q, title %q; want %v, ehecoatl and a title", d.SchemaVersion, d.UID, d.Title, schemaVersion)
	}
	vars := map[string]variable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	if v := vars["datasource"]; v.Type != "datasource" || string(v.Query) != `"prometheus"` {
		t.Errorf("variable datasource: type %q, query %s; want a datasource variable of type prometheus", v.Type, v.Query)
	}
	// ehecoatl_requests_in_flight has a series for every app of the
	// routing table, requested or not (ehecoatl_requests_total only from
	// its first request): a tenant that never had traffic can be chosen.
	for name, want := range map[string]string{
		"tenant": "label_values(ehecoatl_requests_in_flight, tenant)",
		"app":    `label_values(ehecoatl_requests_in_flight{tenant=~"$tenant"}, app)`,
	} {
		v := vars[name]
		if v.Type != "query" || v.Definition != want || v.Datasource == nil || v.Datasource.UID != "${datasource}" {
			t.Errorf("variable %s: type %q, definition %q, datasource %+v; want a query %s on ${datasource}", name, v.Type, v.Definition, v.Datasource, want)
		}
	}
	ids := map[int]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if prev, dup := ids[p.ID]; dup {
				t.Errorf("panels %q and %q have the id %d", prev, p.Title, p.ID)
			}
			ids[p.ID] = p.Title
			if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
				t.Errorf("panel %q: gridPos %+v outside Grafana's 24 columns", p.Title, g)
			}
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			ok := func(ds *datasource) bool { return ds != nil && ds.Type == "prometheus" && ds.UID == "${datasource}" }
			if !ok(p.Datasource) {
				t.Errorf("panel %q: datasource %+v, want the ${datasource} variable", p.Title, p.Datasource)
			}
			for _, tg := range p.Targets {
				if !ok(tg.Datasource) || strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("panel %q target %s: datasource %+v, expr %q", p.Title, tg.RefID, tg.Datasource, tg.Expr)
				}
				// The tenant and app panels follow the variables.
				if strings.Contains(tg.Expr, "tenant") && !strings.Contains(tg.Expr, `tenant=~"$tenant"`) {
					t.Errorf("panel %q target %s ignores $tenant: %s", p.Title, tg.RefID, tg.Expr)
				}
			}
		}
	}
	walk(d.Panels)
}

// grafanaVar is a variable of Grafana's in a query: $name, ${name}.
var grafanaVar = regexp.MustCompile(`\$\{?(\w+)\}?`)

// TestDashboardParses runs every panel query through Prometheus's own
// PromQL parser: promtool check rules parses each as a recording rule's
// expression (types too: a rate of a gauge's instant vector is refused).
func TestDashboardParses(t *testing.T) {
	tool, err := promtool.Path(repo)
	if err != nil {
		if testing.Short() {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	_, qs := load(t)
	var rules strings.Builder
	rules.WriteString("groups:\n- name: dashboard\n  rules:\n")
	n := 0
	for _, q := range qs {
		if strings.HasPrefix(q.expr, "label_values(") {
			continue // Grafana's, not PromQL
		}
		expr := grafanaVar.ReplaceAllStringFunc(q.expr, func(v string) string {
			if strings.HasPrefix(strings.Trim(v, "${"), "__") {
				return "5m" // $__rate_interval, $__interval, $__range
			}
			return "x" // $tenant, $app: in strings only
		})
		b, _ := json.Marshal(expr) // a JSON string is a YAML string
		n++
		fmt.Fprintf(&rules, "  - record: dashboard:q%d\n    expr: %s\n", n, b)
	}
	f := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(f, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code, err := promtool.Run(tool, nil, "check", "rules", f)
	if err != nil || code != 0 || !strings.Contains(out, fmt.Sprintf("SUCCESS: %d rules found", n)) {
		t.Errorf("promtool check rules: exit %d, %v\n%s\nrules:\n%s", code, err, out, rules.String())
	}
}
