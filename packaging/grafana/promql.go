// Package grafana holds the tests of the Grafana dashboard that the
// packages install as /usr/share/ehecoatl/grafana/ehecoatl.json (its one
// source is examples/grafana/ehecoatl.json): every query names only metrics
// and labels of docs/METRICS.md, and parses as PromQL. This file reads the
// metric and label names out of a query without a PromQL parser (the
// Prometheus module would bring 35 MB and a hundred modules into go.mod
// for one test); the real parser checks the same queries through
// `promtool check rules` (dashboard_test.go).
package grafana

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Selector is a metric a query selects, with the labels its matchers name.
type Selector struct {
	Metric string
	Labels []string
}

// Query is what names tells about one PromQL expression.
type Query struct {
	Selectors []Selector
	Grouping  []string // labels of by, without, on, ignoring, group_left, group_right
}

// Operators that take a parenthesized list of label names.
var grouping = []string{"by", "without", "on", "ignoring", "group_left", "group_right"}

// Words that are neither metrics nor functions: aggregations (written
// "sum by (x) (...)" as well as "sum(...)"), binary operators, modifiers.
var keywords = []string{
	"sum", "avg", "min", "max", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
	"count_values", "group", "limitk", "limit_ratio",
	"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan",
}

// PromQL's functions (Prometheus 3's list): an identifier before "(" that
// is not one of these is a mistake, not a metric.
var functions = []string{
	"abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh",
	"avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh",
	"count_over_time", "day_of_month", "day_of_week", "day_of_year", "days_in_month", "deg",
	"delta", "deriv", "double_exponential_smoothing", "end", "exp", "floor", "histogram_avg",
	"histogram_count", "histogram_fraction", "histogram_quantile", "histogram_stddev",
	"histogram_stdvar", "histogram_sum", "holt_winters", "hour", "idelta", "increase", "info",
	"irate", "label_join", "label_replace", "last_over_time", "ln", "log10", "log2",
	"mad_over_time", "max_over_time", "min_over_time", "minute", "month", "pi",
	"predict_linear", "present_over_time", "quantile_over_time", "rad", "rate", "resets",
	"round", "scalar", "sgn", "sin", "sinh", "sort", "sort_by_label", "sort_by_label_desc",
	"sort_desc", "sqrt", "start", "stddev_over_time", "stdvar_over_time", "sum_over_time",
	"tan", "tanh", "time", "timestamp", "vector", "year",
}

// rangeRE is what may stand in brackets: a duration or a variable, and a
// subquery's optional step after a colon.
var rangeRE = regexp.MustCompile(`^\s*` + durOrVar + `(:(` + durOrVar + `)?)?\s*$`)

const durOrVar = `((\d+(ms|[smhdwy]))+|\$[a-zA-Z_]\w*|\$\{[a-zA-Z_][^{}]*\}[a-z]*)`

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func isIdent(c byte) bool { return isIdentStart(c) || '0' <= c && c <= '9' }

// Names reads the selectors and grouping labels of a PromQL expression
// in which Grafana's variables ($name, ${name}, [[name]]) may stand for
// values. It refuses unbalanced brackets, unterminated strings, unknown
// functions, and an expression that selects no metric.
func Names(expr string) (Query, error) {
	l := lexer{s: expr}
	q, err := l.query()
	if err != nil {
		return Query{}, fmt.Errorf("%w at offset %d of %q", err, l.i, expr)
	}
	if len(q.Selectors) == 0 {
		return Query{}, fmt.Errorf("no metric in %q", expr)
	}
	return q, nil
}

type lexer struct {
	s string
	i int
}

func (l *lexer) space() {
	for l.i < len(l.s) {
		switch c := l.s[l.i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			l.i++
		case c == '#': // a comment to the end of the line
			for l.i < len(l.s) && l.s[l.i] != '\n' {
				l.i++
			}
		default:
			return
		}
	}
}

func (l *lexer) ident() string {
	start := l.i
	for l.i < len(l.s) && isIdent(l.s[l.i]) {
		l.i++
	}
	return l.s[start:l.i]
}

// peek returns the next byte after spaces, 0 at the end.
func (l *lexer) peek() byte {
	l.space()
	if l.i < len(l.s) {
		return l.s[l.i]
	}
	return 0
}

func (l *lexer) str() error {
	quote := l.s[l.i]
	for l.i++; l.i < len(l.s); l.i++ {
		switch l.s[l.i] {
		case '\\':
			if quote != '`' {
				l.i++
			}
		case quote:
			l.i++
			return nil
		}
	}
	return fmt.Errorf("unterminated string")
}

// variable skips a Grafana variable: $name, ${name...} or [[name]].
func (l *lexer) variable() error {
	if strings.HasPrefix(l.s[l.i:], "[[") {
		end := strings.Index(l.s[l.i:], "]]")
		if end < 0 {
			return fmt.Errorf("unterminated [[variable]]")
		}
		l.i += end + 2
		return nil
	}
	l.i++ // $
	if l.i < len(l.s) && l.s[l.i] == '{' {
		end := strings.IndexByte(l.s[l.i:], '}')
		if end < 0 {
			return fmt.Errorf("unterminated ${variable}")
		}
		l.i += end + 1
		return nil
	}
	if l.ident() == "" {
		return fmt.Errorf("$ without a variable name")
	}
	return nil
}

func (l *lexer) query() (Query, error) {
	var q Query
	var open []byte // brackets not yet closed
	for {
		c := l.peek()
		switch {
		case c == 0:
			if len(open) > 0 {
				return q, fmt.Errorf("unclosed %q", open[len(open)-1])
			}
			return q, nil
		case c == '"' || c == '\'' || c == '`':
			if err := l.str(); err != nil {
				return q, err
			}
		case c == '$' || strings.HasPrefix(l.s[l.i:], "[["):
			if err := l.variable(); err != nil {
				return q, err
			}
		case c == '(':
			open = append(open, c)
			l.i++
		case c == ')':
			if len(open) == 0 || open[len(open)-1] != '(' {
				return q, fmt.Errorf("unbalanced )")
			}
			open = open[:len(open)-1]
			l.i++
		case c == '[':
			// A range, or a subquery's range and step.
			end := strings.IndexByte(l.s[l.i:], ']')
			if end < 0 || !rangeRE.MatchString(l.s[l.i+1:l.i+end]) {
				return q, fmt.Errorf("unbalanced [, or not a range")
			}
			l.i += end + 1
		case c == ']' || c == '}':
			return q, fmt.Errorf("unbalanced %c", c)
		case c == '{':
			// {__name__="..."} hides the metric from this reader, and from
			// a person reading the dashboard.
			return q, fmt.Errorf("a selector without a metric name before its braces")
		case '0' <= c && c <= '9' || c == '.':
			// A number or a duration (offset 5m).
			for l.i < len(l.s) && (isIdent(l.s[l.i]) || l.s[l.i] == '.') {
				l.i++
			}
		case isIdentStart(c):
			word := l.ident()
			switch next := l.peek(); {
			case slices.Contains(grouping, strings.ToLower(word)):
				if next == '(' {
					labels, err := l.labelList()
					if err != nil {
						return q, err
					}
					q.Grouping = append(q.Grouping, labels...)
				} else if w := strings.ToLower(word); w != "group_left" && w != "group_right" {
					return q, fmt.Errorf("%s without a label list", word)
				}
			case slices.Contains(keywords, strings.ToLower(word)):
			case next == '(':
				if !slices.Contains(functions, word) {
					return q, fmt.Errorf("unknown function %s", word)
				}
			default:
				sel := Selector{Metric: word}
				if next == '{' {
					labels, err := l.matchers()
					if err != nil {
						return q, err
					}
					sel.Labels = labels
				}
				q.Selectors = append(q.Selectors, sel)
			}
		default:
			// Operators: + - * / % ^ == != <= >= < > , and @.
			if !strings.ContainsRune("+-*/%^=!<>,@", rune(c)) {
				return q, fmt.Errorf("unexpected %q", c)
			}
			l.i++
		}
	}
}

// labelList reads "(a, b, c)".
func (l *lexer) labelList() ([]string, error) {
	l.i++ // (
	var labels []string
	comma := false // a comma may come next
	for {
		switch c := l.peek(); {
		case c == ')':
			l.i++
			return labels, nil
		case c == ',' && comma:
			l.i++
			comma = false
		case isIdentStart(c) && !comma:
			labels = append(labels, l.ident())
			comma = true
		default:
			return nil, fmt.Errorf("unexpected %q in a label list", c)
		}
	}
}

// matchers reads `{name op "value", ...}` and returns the names.
func (l *lexer) matchers() ([]string, error) {
	l.i++ // {
	var labels []string
	for {
		c := l.peek()
		switch c {
		case '}':
			l.i++
			return labels, nil
		case 0:
			return nil, fmt.Errorf("unclosed '{'")
		}
		if len(labels) > 0 {
			if c != ',' {
				return nil, fmt.Errorf("unexpected %q between matchers", c)
			}
			l.i++
			if l.peek() == '}' { // a trailing comma
				l.i++
				return labels, nil
			}
		}
		if !isIdentStart(l.peek()) {
			return nil, fmt.Errorf("a matcher without a label name")
		}
		labels = append(labels, l.ident())
		l.space()
		op := ""
		for _, o := range []string{"=~", "!~", "!=", "="} {
			if strings.HasPrefix(l.s[l.i:], o) {
				op = o
				break
			}
		}
		if op == "" {
			return nil, fmt.Errorf("a matcher without =, !=, =~ or !~")
		}
		l.i += len(op)
		if c := l.peek(); c != '"' && c != '\'' && c != '`' {
			return nil, fmt.Errorf("a matcher's value is not a string")
		}
		if err := l.str(); err != nil {
			return nil, err
		}
	}
}
