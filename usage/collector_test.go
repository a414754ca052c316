package usage

import (
	"bytes"
	"flag"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/ehecoatl/ehecoatl/internal/metricsdoc"
)

var update = flag.Bool("update", false, "rewrite testdata/metrics.prom from the current output")

func fixtureCollector(t *testing.T) prometheus.Collector {
	f, targets := acme()
	var errs []error
	c := NewCollector(func() []Target { return targets }, Options{Systemd: f, CgroupRoot: "testdata/cgroup", OnError: func(err error) { errs = append(errs, err) }})
	t.Cleanup(func() {
		if errs != nil {
			t.Errorf("OnError: %v", errs)
		}
	})
	return c
}

// The exposition of the fixture, series by series (testdata/metrics.prom,
// reviewed by hand; -update rewrites it).
func TestCollectorOutput(t *testing.T) {
	c := fixtureCollector(t)
	if *update {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(c)
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range families {
			if err := enc.Encode(mf); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile("testdata/metrics.prom", b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.Open("testdata/metrics.prom")
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	if err := testutil.CollectAndCompare(c, want); err != nil {
		t.Error(err)
	}
	// The pedantic registry checks that what is collected is described,
	// consistently labelled, and never collected twice.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if _, err := reg.Gather(); err != nil {
		t.Errorf("pedantic gather: %v", err)
	}
}

// usageContract is the "Usage" table of docs/METRICS.md.
func usageContract(t *testing.T) map[string]metricsdoc.Metric {
	t.Helper()
	c, err := metricsdoc.Load("../docs/METRICS.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := c.Section("Usage")
	if len(rows) == 0 {
		t.Fatal(`docs/METRICS.md: no rows under "## Usage"`)
	}
	return rows
}

// The collector describes exactly the "Usage" table of docs/METRICS.md,
// and what it collects has the table's types and labels.
func TestCollectorContract(t *testing.T) {
	contract := usageContract(t)
	c := fixtureCollector(t)
	ch := make(chan *prometheus.Desc, 100)
	c.Describe(ch)
	close(ch)
	var described []string
	for d := range ch {
		m := regexp.MustCompile(`fqName: "([^"]+)"`).FindStringSubmatch(d.String())
		described = append(described, m[1])
	}
	var want []string
	for n := range contract {
		want = append(want, n)
	}
	slices.Sort(described)
	slices.Sort(want)
	if !slices.Equal(described, want) {
		t.Fatalf("described %v\nMETRICS.md Usage table %v", described, want)
	}

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, mf := range families {
		row := contract[mf.GetName()]
		seen[mf.GetName()] = true
		if typ := strings.ToLower(mf.GetType().String()); typ != row.Type {
			t.Errorf("%s is a %s, METRICS.md says %s", mf.GetName(), typ, row.Type)
		}
		for _, m := range mf.GetMetric() {
			var got []string
			for _, l := range m.GetLabel() {
				got = append(got, l.GetName())
			}
			if want := slices.Sorted(slices.Values(row.Labels)); !slices.Equal(got, want) {
				t.Errorf("%s has labels %v, METRICS.md says %v", mf.GetName(), got, want)
				break
			}
		}
	}
	// The fixture shows every metric, so every row's type and labels
	// were checked.
	for n := range contract {
		if !seen[n] {
			t.Errorf("the fixture does not show %s", n)
		}
	}
}
