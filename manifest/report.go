package manifest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Severity says whether a Finding blocks the manifest directory.
type Severity int

const (
	// Error: the directory is invalid; Load returns no Set and apply
	// changes nothing. The zero value, so that a Finding built without a
	// severity errs on the safe side.
	Error Severity = iota
	// Warning: suspicious but valid (an ignored file, an app nobody can
	// reach). Reported, never blocking.
	Warning
)

// String returns "error" or "warning".
func (s Severity) String() string {
	switch s {
	case Error:
		return "error"
	case Warning:
		return "warning"
	}
	return "severity(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText makes a Severity "error"/"warning" in JSON output
// (`ehecoatl validate --json`).
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

var _ json.Marshaler = Finding{}

// Finding is one problem of a manifest directory.
type Finding struct {
	Severity Severity
	// File is relative to the manifest directory ("tenants/acme.yaml");
	// "" for problems of the directory itself.
	File string
	// Line and Col are 1-based; 0 when unknown or when the finding
	// concerns the whole file. YAML syntax errors carry a line only: the
	// YAML parser does not report columns.
	Line, Col int
	// Path is the YAML path ("apps.web.egress", "apps.web.command[0]");
	// "" for file-level findings.
	Path string
	// Message says what is wrong, in lower case. User-supplied text in it
	// is quoted, so a Finding never spans lines.
	Message string
	// Hint says how to fix it; may be "".
	Hint string
}

// MarshalJSON writes lower-case keys, for `--json` outputs.
func (f Finding) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Severity Severity `json:"severity"`
		File     string   `json:"file,omitempty"`
		Line     int      `json:"line,omitempty"`
		Col      int      `json:"col,omitempty"`
		Path     string   `json:"path,omitempty"`
		Message  string   `json:"message"`
		Hint     string   `json:"hint,omitempty"`
	}{f.Severity, f.File, f.Line, f.Col, f.Path, f.Message, f.Hint})
}

// String formats the finding as
//
//	tenants/acme.yaml:12:7 apps.web.egress: message (hint: hint)
//
// dropping what is empty: the column when unknown ("file:12 path: ..."),
// line and column for file-level findings ("file: message"), the path, the
// hint. Warnings carry "warning: " before the message; errors carry no
// prefix. The result is always a single line.
func (f Finding) String() string {
	var b strings.Builder
	if f.File != "" {
		b.WriteString(oneLine(f.File))
		if f.Line > 0 {
			b.WriteString(":" + strconv.Itoa(f.Line))
			if f.Col > 0 {
				b.WriteString(":" + strconv.Itoa(f.Col))
			}
		}
	}
	if f.Path != "" {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(oneLine(f.Path))
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if f.Severity == Warning {
		b.WriteString("warning: ")
	}
	b.WriteString(oneLine(f.Message))
	if f.Hint != "" {
		b.WriteString(" (hint: " + oneLine(f.Hint) + ")")
	}
	return b.String()
}

// oneLine protects the one-finding-per-line format against control
// characters that slipped into a file name or message.
func oneLine(s string) string {
	if strings.IndexFunc(s, isControl) < 0 {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// Report is every finding of one load, sorted by file, line, column and
// path (then message), so that output is deterministic.
type Report struct {
	Findings []Finding
}

// HasErrors reports whether any finding is an Error.
func (r *Report) HasErrors() bool {
	if r == nil {
		return false
	}
	for _, f := range r.Findings {
		if f.Severity == Error {
			return true
		}
	}
	return false
}

// Count returns the number of errors and warnings.
func (r *Report) Count() (errors, warnings int) {
	if r == nil {
		return 0, 0
	}
	for _, f := range r.Findings {
		if f.Severity == Error {
			errors++
		} else {
			warnings++
		}
	}
	return errors, warnings
}

// String returns one finding per line, each line ending in "\n"; "" for
// an empty report.
func (r *Report) String() string {
	if r == nil {
		return ""
	}
	var b strings.Builder
	for _, f := range r.Findings {
		b.WriteString(f.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func (r *Report) sort() {
	slices.SortStableFunc(r.Findings, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Col, b.Col),
			cmp.Compare(a.Path, b.Path),
			cmp.Compare(a.Message, b.Message),
			cmp.Compare(a.Hint, b.Hint),
			cmp.Compare(a.Severity, b.Severity),
		)
	})
	// The same problem can be reached twice (a kit checked for two
	// tenants); report it once.
	r.Findings = slices.Compact(r.Findings)
}

// maxFindingsPerFile bounds the report for a pathological file (a 1 MiB
// list of aliases would otherwise produce a quarter of a million lines).
const maxFindingsPerFile = 100

// collector gathers the findings of one load.
type collector struct {
	report  Report
	perFile map[string]int
}

// full reports whether file has reached maxFindingsPerFile, so that a
// caller can skip building findings nobody will see.
func (c *collector) full(file string) bool {
	return c.perFile[file] >= maxFindingsPerFile
}

func (c *collector) add(f Finding) {
	if c.perFile == nil {
		c.perFile = map[string]int{}
	}
	n := c.perFile[f.File]
	c.perFile[f.File] = n + 1
	switch {
	case n < maxFindingsPerFile:
		c.report.Findings = append(c.report.Findings, f)
	case n == maxFindingsPerFile:
		c.report.Findings = append(c.report.Findings, Finding{
			Severity: Error,
			File:     f.File,
			Message:  fmt.Sprintf("too many problems; only the first %d are reported", maxFindingsPerFile),
			Hint:     "fix these and validate again",
		})
	}
}
