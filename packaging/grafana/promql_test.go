package grafana

import (
	"reflect"
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	for _, tc := range []struct {
		expr      string
		selectors []Selector
		grouping  []string
	}{
		{`up`, []Selector{{Metric: "up"}}, nil},
		{
			`sum by (tenant, app, code) (rate(ehecoatl_requests_total{tenant=~"$tenant", app=~"$app"}[$__rate_interval]))`,
			[]Selector{{"ehecoatl_requests_total", []string{"tenant", "app"}}},
			[]string{"tenant", "app", "code"},
		},
		{
			// Grouping after the aggregation, a histogram's buckets, numbers.
			"histogram_quantile(0.95, sum(rate(a_bucket{x='y', z!~\"w\",}[5m])) without (le, x))",
			[]Selector{{"a_bucket", []string{"x", "z"}}}, []string{"le", "x"},
		},
		{
			// Strings hold no names, even names of functions or metrics.
			`label_replace(rate(b_total[1m] offset 1h), "dst", "$1 rate(x)", "src", "(.*) {y}")`,
			[]Selector{{Metric: "b_total"}}, nil,
		},
		{
			// Vector matching; keywords in any case; a metric named like a
			// label elsewhere.
			"a / ON(tenant) group_left(name) b\nOR\nc{app=\"\"} > bool 1 # a comment with d",
			[]Selector{{Metric: "a"}, {Metric: "b"}, {"c", []string{"app"}}}, []string{"tenant", "name"},
		},
		{`-sum(x:recorded:rate5m @ start())`, []Selector{{Metric: "x:recorded:rate5m"}}, nil},
		{`max_over_time(rate(s[5m])[1h:])`, []Selector{{Metric: "s"}}, nil},
		{`max by(le)(h_bucket[[range]])`, []Selector{{Metric: "h_bucket"}}, []string{"le"}},
		{`rate(foo[${__range_s}s])`, []Selector{{Metric: "foo"}}, nil},
	} {
		q, err := Names(tc.expr)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		if !reflect.DeepEqual(q.Selectors, tc.selectors) || !reflect.DeepEqual(q.Grouping, tc.grouping) {
			t.Errorf("%s:\n got %+v %v\nwant %+v %v", tc.expr, q.Selectors, q.Grouping, tc.selectors, tc.grouping)
		}
	}
}

func TestNamesRefuses(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{`sum(rate(a[5m])`, "unclosed '('"},
		{`rate(a[5m]))`, "unbalanced )"},
		{`rate(a[5m)`, "unbalanced ["},
		{`rate(a[5x])`, "not a range"},
		{`rate(a[5m:1m:])`, "not a range"},
		{`a{x="y"`, "unclosed '{'"},
		{`a{x="y}`, "unterminated string"},
		{`a{x}`, "without =, !=, =~ or !~"},
		{`a{x=y}`, "not a string"},
		{`{__name__="a"}`, "without a metric name"},
		{`rat(a[5m])`, "unknown function rat"},
		{`histogram_quantile(0.9, 1)`, "no metric"},
		{`sum by tenant (a)`, "by without a label list"},
		{`sum by (tenant a) (a)`, "unexpected 'a' in a label list"},
		{`rate(a[$__rate_interval]) }`, "unbalanced }"},
		{`a ~ b`, "unexpected '~'"},
		{`rate(a[$])`, "unbalanced ["},
		{`a * $`, "$ without a variable name"},
	} {
		_, err := Names(tc.expr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.expr, err, tc.want)
		}
	}
}
