// Package metricsdoc reads the tables of docs/METRICS.md, the contract of
// the metrics the router exports, so that tests can hold the collectors
// (router, usage), the Grafana dashboard's queries (packaging/grafana) and
// a real scrape (tests/) to one reading of it.
// Imported only by _test.go files.
package metricsdoc

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
)

// Metric is one row of a table: a family's name, its type and its labels.
type Metric struct {
	Name    string
	Type    string // counter, gauge or histogram
	Labels  []string
	Section string // the heading (## ...) the table is under
}

// Contract is every family of docs/METRICS.md.
type Contract struct {
	Metrics  map[string]Metric
	Prefixes []string // rows like `go_*`: any family with the prefix, of any type
}

// Load parses the file at path (docs/METRICS.md).
func Load(path string) (*Contract, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

var (
	backticked = regexp.MustCompile("`([^`]*)`")
	// A label's allowed values follow it in parentheses: `code` (`1xx`..`5xx`).
	parenthesized = regexp.MustCompile(`\([^)]*\)`)
	familyName    = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName     = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// Parse reads the rows of the tables whose header is
// "| metric | type | labels | meaning |". A row it cannot read is an error,
// not a row skipped: a contract the tests misread would hold nothing.
func Parse(md string) (*Contract, error) {
	c := &Contract{Metrics: map[string]Metric{}}
	inTable := false
	section := ""
	for i, line := range strings.Split(md, "\n") {
		line = strings.TrimSpace(line)
		if h, ok := strings.CutPrefix(line, "## "); ok {
			section = h
		}
		if !strings.HasPrefix(line, "|") {
			inTable = false
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for j := range cells {
			cells[j] = strings.TrimSpace(cells[j])
		}
		switch {
		case len(cells) == 4 && cells[0] == "metric" && cells[1] == "type" && cells[2] == "labels":
			inTable = true
			continue
		case !inTable, strings.Trim(cells[0], "- ") == "":
			continue
		case len(cells) != 4:
			return nil, fmt.Errorf("line %d: %d cells, want 4 (metric, type, labels, meaning)", i+1, len(cells))
		}
		names := backticked.FindAllStringSubmatch(cells[0], -1)
		if len(names) == 0 {
			return nil, fmt.Errorf("line %d: no `name` in %q", i+1, cells[0])
		}
		if strings.HasSuffix(names[0][1], "_*") {
			for _, n := range names {
				if !strings.HasSuffix(n[1], "_*") {
					return nil, fmt.Errorf("line %d: %q mixes a prefix and a name", i+1, cells[0])
				}
				c.Prefixes = append(c.Prefixes, strings.TrimSuffix(n[1], "*"))
			}
			continue
		}
		if len(names) != 1 || !familyName.MatchString(names[0][1]) {
			return nil, fmt.Errorf("line %d: want one metric name in %q", i+1, cells[0])
		}
		m := Metric{Name: names[0][1], Type: cells[1], Section: section}
		if !slices.Contains([]string{"counter", "gauge", "histogram"}, m.Type) {
			return nil, fmt.Errorf("line %d: %s has type %q, want counter, gauge or histogram", i+1, m.Name, m.Type)
		}
		for _, l := range backticked.FindAllStringSubmatch(parenthesized.ReplaceAllString(cells[2], ""), -1) {
			if !labelName.MatchString(l[1]) {
				return nil, fmt.Errorf("line %d: %s has label %q, not a label name", i+1, m.Name, l[1])
			}
			m.Labels = append(m.Labels, l[1])
		}
		if _, dup := c.Metrics[m.Name]; dup {
			return nil, fmt.Errorf("line %d: %s twice", i+1, m.Name)
		}
		c.Metrics[m.Name] = m
	}
	if len(c.Metrics) == 0 {
		return nil, fmt.Errorf("no metric tables (| metric | type | labels | meaning |)")
	}
	return c, nil
}

// Series returns the family of a series name as a query or a scrape names
// it: a histogram's name_bucket, name_sum and name_count are the
// histogram's, and its bare name is no series at all. ok is false for a
// name the contract does not have (see Prefixed for go_* and process_*).
func (c *Contract) Series(name string) (m Metric, ok bool) {
	if m, ok := c.Metrics[name]; ok {
		return m, m.Type != "histogram"
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, cut := strings.CutSuffix(name, suffix); cut {
			if m, ok := c.Metrics[base]; ok && m.Type == "histogram" {
				return m, true
			}
		}
	}
	return Metric{}, false
}

// Section returns the families of the tables under the heading that
// begins with title ("Usage" for "## Usage (read from systemd ...)").
func (c *Contract) Section(title string) map[string]Metric {
	out := map[string]Metric{}
	for n, m := range c.Metrics {
		if m.Section == title || strings.HasPrefix(m.Section, title+" ") {
			out[n] = m
		}
	}
	return out
}

// Prefixed says whether name is one of the rows like `go_*`.
func (c *Contract) Prefixed(name string) bool {
	for _, p := range c.Prefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// HasLabel says whether the series name (see Series) carries label:
// its family's labels, and le on a histogram's buckets.
func (m Metric) HasLabel(series, label string) bool {
	if m.Type == "histogram" && label == "le" && strings.HasSuffix(series, "_bucket") {
		return true
	}
	return slices.Contains(m.Labels, label)
}
