package usage

import (
	"bytes"
	"flag"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/ehecoatl/ehecoatl/internal/linediff"
	"github.com/ehecoatl/ehecoatl/internal/metricsdoc"
	"github.com/ehecoatl/ehecoatl/internal/promtext"
)

var update = flag.Bool("update", false, "rewrite testdata/metrics.prom from the current output")

// fixtureText is what the collector writes for the acme fixture.
func fixtureText(t *testing.T) string {
	t.Helper()
	f, targets := acme()
	var errs []error
	c := NewCollector(func() []Target { return targets }, Options{Systemd: f, CgroupRoot: "testdata/cgroup", OnError: func(err error) { errs = append(errs, err) }})
	w := promtext.NewWriter(nil, false)
	c.WriteMetrics(w)
	if errs != nil {
		t.Errorf("OnError: %v", errs)
	}
	return string(w.Bytes())
}

// parse reads the text format and fails on a series written twice.
func parse(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := metricsdoc.ReadScrape(text)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, text)
	}
	return fams
}

// canonical is text parsed and written again with families and series
// sorted, as a registry would serve it.
func canonical(t *testing.T, text string) string {
	t.Helper()
	fams := parse(t, text)
	var b bytes.Buffer
	for _, name := range slices.Sorted(maps.Keys(fams)) {
		mf := fams[name]
		key := func(m *dto.Metric) string {
			var ls []string
			for _, l := range m.Label {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			return strings.Join(ls, ",")
		}
		slices.SortFunc(mf.Metric, func(a, b *dto.Metric) int { return strings.Compare(key(a), key(b)) })
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// The exposition of the fixture, series by series (testdata/metrics.prom,
// reviewed by hand; -update rewrites it).
func TestCollectorOutput(t *testing.T) {
	got := fixtureText(t)
	if *update {
		if err := os.WriteFile("testdata/metrics.prom", []byte(canonical(t, got)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/metrics.prom")
	if err != nil {
		t.Fatal(err)
	}
	if g, w := canonical(t, got), canonical(t, string(want)); g != w {
		t.Errorf("the fixture's metrics differ from testdata/metrics.prom:\n%s", linediff.Lines(w, g))
	}
}

// The collector describes exactly the "Usage" table of docs/METRICS.md,
// and what it collects has the table's types and labels.
func TestCollectorContract(t *testing.T) {
	c, err := metricsdoc.Load("../docs/METRICS.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Section("Usage")) == 0 {
		t.Fatal(`docs/METRICS.md: no rows under "## Usage"`)
	}
	// The fixture shows every metric, so every row's type and labels are
	// checked, and nothing else is written.
	for _, finding := range c.Check(parse(t, fixtureText(t)), "Usage") {
		t.Error(finding)
	}
}
