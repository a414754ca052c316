package promtext

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"
)

// family is one test family in both forms: the calls for a Writer and the
// dto that expfmt encodes.
type family struct {
	name, help string
	typ        Type
	bounds     *Bounds
	series     []series
}

type series struct {
	labels []string // name, value pairs
	value  float64
	cum    []uint64
	sum    float64
}

func (f family) write(w *Writer) {
	w.Family(Family{Name: f.name, Help: f.help, Type: f.typ})
	for _, s := range f.series {
		if f.typ == Histogram {
			w.Histogram(f.bounds, s.cum, s.sum, s.labels...)
		} else {
			w.Sample(s.value, s.labels...)
		}
	}
}

func (f family) dto() *dto.MetricFamily {
	mf := &dto.MetricFamily{Name: proto.String(f.name), Help: proto.String(f.help)}
	mf.Type = map[Type]dto.MetricType{Counter: dto.MetricType_COUNTER, Gauge: dto.MetricType_GAUGE, Histogram: dto.MetricType_HISTOGRAM}[f.typ].Enum()
	for _, s := range f.series {
		m := &dto.Metric{}
		for i := 0; i+1 < len(s.labels); i += 2 {
			m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(s.labels[i]), Value: proto.String(s.labels[i+1])})
		}
		switch f.typ {
		case Counter:
			m.Counter = &dto.Counter{Value: proto.Float64(s.value)}
		case Gauge:
			m.Gauge = &dto.Gauge{Value: proto.Float64(s.value)}
		case Histogram:
			h := &dto.Histogram{SampleCount: proto.Uint64(s.cum[len(s.cum)-1]), SampleSum: proto.Float64(s.sum)}
			for i, u := range f.bounds.Upper {
				h.Bucket = append(h.Bucket, &dto.Bucket{UpperBound: proto.Float64(u), CumulativeCount: proto.Uint64(s.cum[i])})
			}
			m.Histogram = h
		}
		mf.Metric = append(mf.Metric, m)
	}
	return mf
}

var values = []float64{0, 1, -1, 2, 0.5, 1e-9, 123456789, 1e21, 3.25e6, math.Inf(1), math.Inf(-1), math.NaN(), 1 << 53, 0.1 + 0.2}

var labelValues = []string{"", "web", "t-1", `quo"te`, `back\slash`, "new\nline", "café", "HTTP/1.1", "*.example.com"}

func randomFamily(r *rand.Rand, i int) family {
	f := family{help: []string{"Plain help.", `help with "quotes" and \ and` + "\nnewline", ""}[r.IntN(3)], typ: Type(r.IntN(3))}
	f.name = "test_family_" + string(rune('a'+i%26))
	if f.typ == Counter {
		f.name += "_total"
	}
	if f.typ == Histogram {
		var up []float64
		for b := 0.001; len(up) < 1+r.IntN(12); b *= 2.5 {
			up = append(up, b)
		}
		if r.IntN(3) == 0 {
			up = append(up, 1, 30, 1e6)
		}
		f.bounds = NewBounds(up...)
	}
	for range r.IntN(4) {
		var s series
		for j := range r.IntN(4) {
			s.labels = append(s.labels, []string{"app", "tenant", "code", "kind"}[j], labelValues[r.IntN(len(labelValues))])
		}
		s.value = values[r.IntN(len(values))]
		if f.typ == Histogram {
			var n uint64
			for range len(f.bounds.Upper) + 1 {
				n += uint64(r.IntN(3)) * uint64([]int{1, 1000, 1 << 40}[r.IntN(3)])
				s.cum = append(s.cum, n)
			}
			s.sum = values[r.IntN(len(values))]
		}
		f.series = append(f.series, s)
	}
	return f
}

// The writer's output is expfmt's for the same families, in both formats.
func TestSameAsExpfmt(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 500 {
		var fams []family
		for i := range 1 + r.IntN(5) {
			fams = append(fams, randomFamily(r, i))
		}
		for _, om := range []bool{false, true} {
			w := NewWriter(nil, om)
			var want bytes.Buffer
			for _, f := range fams {
				f.write(w)
				if len(f.series) == 0 {
					continue // a registry drops a family without series; so does the writer
				}
				var err error
				if om {
					_, err = expfmt.MetricFamilyToOpenMetrics(&want, f.dto())
				} else {
					_, err = expfmt.MetricFamilyToText(&want, f.dto())
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := string(w.Bytes()); got != want.String() {
				t.Fatalf("round %d, OpenMetrics %v:\n got:\n%s\nwant:\n%s\nfirst difference at %d", round, om, got, want.String(), diffAt(got, want.String()))
			}
		}
	}
}

func diffAt(a, b string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// A family without samples writes nothing, not even its header.
func TestEmptyFamily(t *testing.T) {
	w := NewWriter(nil, false)
	w.Family(Family{Name: "a_total", Help: "A.", Type: Counter})
	w.Family(Family{Name: "b", Help: "B.", Type: Gauge})
	w.Sample(2)
	if got, want := string(w.Bytes()), "# HELP b B.\n# TYPE b gauge\nb 2\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if strings.Contains(string(w.Bytes()), "a_total") {
		t.Error("the empty family was written")
	}
}

// Writing series allocates nothing beyond the buffer's growth.
func TestSampleAllocs(t *testing.T) {
	w := NewWriter(make([]byte, 0, 1<<20), false)
	b := NewBounds(.005, .01, .1, 1)
	cum := []uint64{1, 2, 3, 4, 5}
	if n := testing.AllocsPerRun(100, func() {
		w.Family(Family{Name: "x", Help: "X.", Type: Gauge})
		w.Sample(1.5, "app", "web", "tenant", "acme")
		w.Family(Family{Name: "x_seconds", Help: "X.", Type: Histogram})
		w.Histogram(b, cum, 0.25, "app", "web", "tenant", "acme")
	}); n != 0 {
		t.Errorf("%v allocations per series", n)
	}
}
