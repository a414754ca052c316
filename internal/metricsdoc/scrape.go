package metricsdoc

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// ReadScrape parses an exposition in the text format with expfmt's
// parser, and refuses a series written twice, which that parser accepts.
func ReadScrape(text string) (map[string]*dto.MetricFamily, error) {
	seen := map[string]bool{}
	for i, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		series, _, _ := strings.Cut(line, " ")
		if seen[series] {
			return nil, fmt.Errorf("line %d: %s written twice", i+1, series)
		}
		seen[series] = true
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	return p.TextToMetricFamilies(strings.NewReader(text))
}

// Check holds fams to the families of the named sections: each is there,
// with the table's type, every series with the table's labels, and fams
// has no family the sections do not. It returns what differs.
func (c *Contract) Check(fams map[string]*dto.MetricFamily, sections ...string) []string {
	want := map[string]Metric{}
	for _, sec := range sections {
		maps.Copy(want, c.Section(sec))
	}
	var out []string
	for _, name := range slices.Sorted(maps.Keys(want)) {
		w := want[name]
		mf, ok := fams[name]
		if !ok {
			out = append(out, fmt.Sprintf("%s is in docs/METRICS.md but has no series", name))
			continue
		}
		if typ := strings.ToLower(mf.GetType().String()); typ != w.Type {
			out = append(out, fmt.Sprintf("%s is a %s, docs/METRICS.md says %s", name, typ, w.Type))
		}
		wl := slices.Sorted(slices.Values(w.Labels))
		for _, m := range mf.GetMetric() {
			var got []string
			for _, l := range m.GetLabel() {
				got = append(got, l.GetName())
			}
			if slices.Sort(got); !slices.Equal(got, wl) {
				out = append(out, fmt.Sprintf("%s has labels %v, docs/METRICS.md says %v", name, got, wl))
				break
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(fams)) {
		if _, ok := want[name]; !ok {
			out = append(out, fmt.Sprintf("%s has series but is not in docs/METRICS.md's %s", name, strings.Join(sections, ", ")))
		}
	}
	return out
}
