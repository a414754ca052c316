package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// summary collects every figure of the run for the final table.
type summary struct {
	mu   sync.Mutex
	rows []row
}

// row is one figure. verdict is PASS or MISS when the figure has a target,
// "-" when it is for information, ERROR when its section failed.
type row struct {
	section, name, value, target, verdict string
}

// info records a figure without a target.
func (s *summary) info(section, name, value string) {
	s.add(row{section, name, value, "", "-"})
}

// check records a figure with a target; ok says whether it is met.
func (s *summary) check(section, name, value, target string, ok bool) {
	v := "MISS"
	if ok {
		v = "PASS"
	}
	s.add(row{section, name, value, target, v})
}

func (s *summary) errorf(section, format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i] + " ..."
	}
	s.add(row{section, "section failed", msg, "", "ERROR"})
}

func (s *summary) add(r row) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rows = append(s.rows, r)
}

func (s *summary) print(w io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(w, "\n=== summary ===\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "section\tfigure\tvalue\ttarget\tresult")
	pass, miss, errs := 0, 0, 0
	for _, r := range s.rows {
		t := r.target
		if t == "" {
			t = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.section, r.name, r.value, t, r.verdict)
		switch r.verdict {
		case "PASS":
			pass++
		case "MISS":
			miss++
		case "ERROR":
			errs++
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "targets: %d PASS, %d MISS; sections failed: %d\n", pass, miss, errs)
}

// median of xs (mean of the middle two for an even count); NaN when empty.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// percentile is the nearest-rank percentile p (0-100) of xs: the smallest
// sample with at least p% of the samples at or below it. With 50 samples,
// p99 is the largest.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	if rank < 1 {
		rank = 1
	}
	return s[rank-1]
}

// ms converts a duration to float milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func fmtMS(v float64) string { return fmt.Sprintf("%.2f ms", v) }

func fmtRatio(v float64) string { return fmt.Sprintf("%.2fx", v) }
