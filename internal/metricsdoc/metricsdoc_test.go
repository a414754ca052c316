package metricsdoc

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLoadTheContract(t *testing.T) {
	c, err := Load(filepath.Join("..", "..", "docs", "METRICS.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Metrics) < 30 {
		t.Errorf("%d metrics read from docs/METRICS.md, want every row of its tables", len(c.Metrics))
	}
	for _, tc := range []struct {
		series, family, typ string
		labels              []string
	}{
		{"ehecoatl_requests_total", "ehecoatl_requests_total", "counter", []string{"tenant", "app", "code", "proto"}},
		{"ehecoatl_request_duration_seconds_bucket", "ehecoatl_request_duration_seconds", "histogram", []string{"tenant", "app"}},
		{"ehecoatl_request_duration_seconds_count", "ehecoatl_request_duration_seconds", "histogram", []string{"tenant", "app"}},
		{"ehecoatl_unit_state", "ehecoatl_unit_state", "gauge", []string{"tenant", "app", "name", "type", "state"}},
		{"ehecoatl_router_routes", "ehecoatl_router_routes", "gauge", nil},
		{"ehecoatl_build_info", "ehecoatl_build_info", "gauge", []string{"version", "goversion"}},
	} {
		m, ok := c.Series(tc.series)
		if !ok || m.Name != tc.family || m.Type != tc.typ || !slices.Equal(m.Labels, tc.labels) {
			t.Errorf("Series(%s) = %+v %v, want %s %s %v", tc.series, m, ok, tc.family, tc.typ, tc.labels)
		}
	}
	for _, name := range []string{
		"ehecoatl_request_duration_seconds", // a histogram's bare name is no series
		"ehecoatl_requests_total_count",     // not a histogram
		"ehecoatl_requests",
		"systemd_unit_state",
	} {
		if m, ok := c.Series(name); ok {
			t.Errorf("Series(%s) = %+v, want no such series", name, m)
		}
	}
	if !c.Prefixed("go_goroutines") || !c.Prefixed("process_cpu_seconds_total") || c.Prefixed("ehecoatl_x") {
		t.Errorf("prefixes %v", c.Prefixes)
	}
	for title, family := range map[string]string{
		"Requests": "ehecoatl_requests_total", "Activation": "ehecoatl_cold_starts_total",
		"Usage": "ehecoatl_unit_state", "The router itself": "ehecoatl_router_routes",
	} {
		sec := c.Section(title)
		if _, ok := sec[family]; !ok || len(sec) < 3 {
			t.Errorf("Section(%q) has %d families, without %s", title, len(sec), family)
		}
	}
	if n := len(c.Section("Requests")) + len(c.Section("Activation")) + len(c.Section("Usage")) + len(c.Section("The router itself")); n != len(c.Metrics) {
		t.Errorf("the four sections hold %d families, the contract %d", n, len(c.Metrics))
	}
	if len(c.Section("Request")) != 0 {
		t.Error(`Section("Request") matched "Requests ..."`)
	}
	m, _ := c.Series("ehecoatl_request_duration_seconds_bucket")
	if !m.HasLabel("ehecoatl_request_duration_seconds_bucket", "le") || m.HasLabel("ehecoatl_request_duration_seconds_count", "le") {
		t.Error("le is a label of a histogram's buckets only")
	}
}

func TestParseRefuses(t *testing.T) {
	const head = "| metric | type | labels | meaning |\n| --- | --- | --- | --- |\n"
	for _, tc := range []struct{ name, md, want string }{
		{"no tables", "# Metrics\n", "no metric tables"},
		{"bad type", head + "| `a_total` | countr | `tenant` | x |\n", `type "countr"`},
		{"no name", head + "| a_total | counter | `tenant` | x |\n", "no `name`"},
		{"two names", head + "| `a` `b` | gauge | | x |\n", "want one metric name"},
		{"bad label", head + "| `a` | gauge | `ten-ant` | x |\n", `label "ten-ant"`},
		{"cells", head + "| `a` | gauge | x |\n", "3 cells"},
		{"twice", head + "| `a` | gauge | | x |\n| `a` | gauge | | y |\n", "a twice"},
	} {
		_, err := Parse(tc.md)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
	c, err := Parse("text | with a bar\n" + head + "| `a` | gauge | `x` (`1`, `2`), `y` | m |\n\n| other | table |\n| `b` | c |\n")
	if err != nil || len(c.Metrics) != 1 || !slices.Equal(c.Metrics["a"].Labels, []string{"x", "y"}) {
		t.Errorf("%+v %v, want a with labels x, y (values in parentheses are not labels; other tables are not read)", c, err)
	}
}

func TestReadScrapeAndCheck(t *testing.T) {
	if _, err := ReadScrape("a{x=\"1\"} 1\na{x=\"1\"} 2\n"); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("a series twice: %v", err)
	}
	const head = "| metric | type | labels | meaning |\n| --- | --- | --- | --- |\n"
	c, err := Parse("## One\n\n" + head + "| `a_total` | counter | `tenant`, `app` | x |\n| `b` | gauge | | y |\n\n## Two\n\n" + head + "| `c` | gauge | | z |\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ text, want string }{
		{"# TYPE a_total counter\na_total{app=\"w\",tenant=\"t\"} 1\n# TYPE b gauge\nb 1\n", ""},
		{"# TYPE a_total counter\na_total{app=\"w\",tenant=\"t\"} 1\n", "b is in docs/METRICS.md but has no series"},
		{"# TYPE a_total gauge\na_total{app=\"w\",tenant=\"t\"} 1\n# TYPE b gauge\nb 1\n", "a_total is a gauge"},
		{"# TYPE a_total counter\na_total{app=\"w\",tenant=\"t\"} 1\na_total{app=\"v\"} 1\n# TYPE b gauge\nb 1\n", "a_total has labels [app]"},
		{"# TYPE a_total counter\na_total{app=\"w\",tenant=\"t\"} 1\n# TYPE b gauge\nb 1\n# TYPE c gauge\nc 1\n", "c has series but is not in docs/METRICS.md's One"},
	} {
		fams, err := ReadScrape(tc.text)
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(c.Check(fams, "One"), "\n")
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("%q: findings %q, want %q", tc.text, got, tc.want)
		}
	}
}
