// Package promtext writes metric families in the Prometheus text format
// (0.0.4) and in OpenMetrics 1.0, byte for byte as
// github.com/prometheus/common/expfmt writes the same families, straight
// from values: no dto.Metric per series, no sort, no validation of names
// the caller wrote as constants. The router serves its per-app families
// with it (docs/DESIGN.md "Router: counting requests for the metrics"):
// through client_golang's registry and expfmt, a scrape of 2,000 apps cost
// the router 140 ms of CPU, most of it building, sorting and checking
// 80,000 series it already holds in order.
//
// Names (of families and labels) must be valid legacy Prometheus names
// and a counter's name must end in _total; the caller's constants are
// checked by its tests, not here per series. Label values are escaped.
package promtext

import (
	"bytes"
	"math"
	"strconv"
	"strings"
)

// Type is a family's type.
type Type int

// The types the router exports.
const (
	Counter Type = iota
	Gauge
	Histogram
)

// Family is a metric family's header: a counter's Name ends in _total.
type Family struct {
	Name, Help string
	Type       Type
}

// Writer appends families to its buffer (Bytes). One family at a time:
// Family, then its samples; a family without samples writes nothing, as
// a registry leaves out a family that collected none.
type Writer struct {
	buf []byte
	om  bool // OpenMetrics, else the text format

	fam    Family
	headed bool // the family's HELP and TYPE are written
}

// NewWriter appends to buf (what it holds stays), in OpenMetrics when om
// is set.
func NewWriter(buf []byte, om bool) *Writer { return &Writer{buf: buf, om: om} }

// Bytes is what was written.
func (w *Writer) Bytes() []byte { return w.buf }

// Family starts a family. Its HELP and TYPE lines are written with its
// first sample.
func (w *Writer) Family(f Family) { w.fam, w.headed = f, false }

func (w *Writer) head() {
	if w.headed {
		return
	}
	w.headed = true
	name := w.fam.Name
	if w.om && w.fam.Type == Counter {
		name = strings.TrimSuffix(name, "_total") // OpenMetrics names the family without it
	}
	w.buf = append(w.buf, "# HELP "...)
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, ' ')
	w.buf = appendEscaped(w.buf, w.fam.Help, w.om)
	w.buf = append(w.buf, "\n# TYPE "...)
	w.buf = append(w.buf, name...)
	switch w.fam.Type {
	case Counter:
		w.buf = append(w.buf, " counter\n"...)
	case Gauge:
		w.buf = append(w.buf, " gauge\n"...)
	case Histogram:
		w.buf = append(w.buf, " histogram\n"...)
	}
}

// Sample writes one series of a counter or gauge family; labels are
// name, value pairs, in the order they are written.
func (w *Writer) Sample(v float64, labels ...string) {
	w.head()
	w.series("", labels, "")
	w.buf = w.float(w.buf, v)
	w.buf = append(w.buf, '\n')
}

// Bounds are a histogram's upper bounds (without +Inf), with their le
// values formatted once for both formats.
type Bounds struct {
	Upper      []float64
	text, open []string
}

// NewBounds makes the Bounds of upper.
func NewBounds(upper ...float64) *Bounds {
	b := &Bounds{Upper: upper}
	for _, u := range append(upper, math.Inf(+1)) {
		b.text = append(b.text, string(appendFloat(nil, u, false)))
		b.open = append(b.open, string(appendFloat(nil, u, true)))
	}
	return b
}

// Histogram writes one series of a histogram family: cum holds the
// cumulative count of each bound and, last, of +Inf (the count).
func (w *Writer) Histogram(b *Bounds, cum []uint64, sum float64, labels ...string) {
	w.head()
	les := b.text
	if w.om {
		les = b.open
	}
	for i, le := range les {
		w.series("_bucket", labels, le)
		w.buf = w.count(w.buf, cum[i])
		w.buf = append(w.buf, '\n')
	}
	w.series("_sum", labels, "")
	w.buf = w.float(w.buf, sum)
	w.buf = append(w.buf, '\n')
	w.series("_count", labels, "")
	w.buf = w.count(w.buf, cum[len(cum)-1])
	w.buf = append(w.buf, '\n')
}

// series writes the name, suffix and labels (le last, when set) and the
// space before the value.
func (w *Writer) series(suffix string, labels []string, le string) {
	w.buf = append(w.buf, w.fam.Name...)
	w.buf = append(w.buf, suffix...)
	sep := byte('{')
	for i := 0; i+1 < len(labels); i += 2 {
		w.buf = append(w.buf, sep)
		w.buf = append(w.buf, labels[i]...)
		w.buf = append(w.buf, '=', '"')
		w.buf = appendEscaped(w.buf, labels[i+1], true)
		w.buf = append(w.buf, '"')
		sep = ','
	}
	if le != "" {
		w.buf = append(w.buf, sep)
		w.buf = append(w.buf, `le="`...)
		w.buf = append(w.buf, le...)
		w.buf = append(w.buf, '"')
		sep = ','
	}
	if sep == ',' {
		w.buf = append(w.buf, '}')
	}
	w.buf = append(w.buf, ' ')
}

func (w *Writer) float(b []byte, v float64) []byte { return appendFloat(b, v, w.om) }

// count: OpenMetrics writes a histogram's counts as integers, the text
// format as floats.
func (w *Writer) count(b []byte, n uint64) []byte {
	if w.om {
		return strconv.AppendUint(b, n, 10)
	}
	return appendFloat(b, float64(n), false)
}

// appendFloat formats as expfmt does: the shortest representation,
// integers without a point in the text format and with ".0" in
// OpenMetrics.
func appendFloat(b []byte, v float64, om bool) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, +1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	start := len(b)
	b = strconv.AppendFloat(b, v, 'g', -1, 64)
	if om && !bytes.ContainsAny(b[start:], "e.") {
		b = append(b, '.', '0')
	}
	return b
}

// appendEscaped escapes a backslash and a newline, and a double quote in
// label values (and in OpenMetrics's HELP).
func appendEscaped(b []byte, s string, quote bool) []byte {
	if !strings.ContainsAny(s, "\\\n\"") {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '"' && quote:
			b = append(b, '\\', '"')
		default:
			b = append(b, c)
		}
	}
	return b
}
