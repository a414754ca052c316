// Package top is `ehecoatl top`: a live view of tenants and apps by CPU,
// memory, tasks, requests and errors, from two scrapes of the router's
// metrics endpoint (docs/METRICS.md) a refresh apart.
package top

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Key is a row: a tenant (App "", the figures of its slice) or one of its
// apps.
type Key struct{ Tenant, App string }

// Usage is what systemd accounts for a row's units at the scrape (the
// Usage table of docs/METRICS.md), summed over the row's units (an app's
// workers). A nil figure was not exported (a limit: unlimited).
type Usage struct {
	CPUSeconds, Memory, MemoryMax, Tasks *float64
	// States holds the ActiveState of each of the row's services (or its
	// slice), by unit name; sockets are in Sockets.
	States, Sockets map[string]string
}

// Requests are a row's request counters (ehecoatl_requests_total).
type Requests struct{ Total, Errors float64 }

// Scrape is one read of the metrics endpoint.
type Scrape struct {
	At       time.Time
	Usage    map[Key]*Usage
	Requests map[Key]*Requests
}

// The metrics top reads (docs/METRICS.md).
const (
	mRequests  = "ehecoatl_requests_total"
	mCPU       = "ehecoatl_unit_cpu_seconds_total"
	mMemory    = "ehecoatl_unit_memory_bytes"
	mMemoryMax = "ehecoatl_unit_memory_max_bytes"
	mTasks     = "ehecoatl_unit_tasks_current"
	mState     = "ehecoatl_unit_state"
)

// Parse reads a scrape in the Prometheus text format, taken at at.
func Parse(r io.Reader, at time.Time) (*Scrape, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parsing the metrics: %w", err)
	}
	s := &Scrape{At: at, Usage: map[Key]*Usage{}, Requests: map[Key]*Requests{}}
	for _, m := range fams[mRequests].GetMetric() {
		l := labels(m)
		rq := s.Requests[l.key()]
		if rq == nil {
			rq = &Requests{}
			s.Requests[l.key()] = rq
		}
		v := value(m)
		rq.Total += v
		if l["code"] == "5xx" {
			rq.Errors += v
		}
	}
	for name, field := range map[string]func(*Usage) **float64{
		mCPU:       func(u *Usage) **float64 { return &u.CPUSeconds },
		mMemory:    func(u *Usage) **float64 { return &u.Memory },
		mMemoryMax: func(u *Usage) **float64 { return &u.MemoryMax },
		mTasks:     func(u *Usage) **float64 { return &u.Tasks },
	} {
		for _, m := range fams[name].GetMetric() {
			f := field(s.usage(labels(m).key()))
			v := value(m)
			if *f != nil {
				v += **f
			}
			*f = &v
		}
	}
	for _, m := range fams[mState].GetMetric() {
		l := labels(m)
		if value(m) != 1 {
			continue
		}
		u := s.usage(l.key())
		typ := l["type"]
		if typ == "" {
			typ = l["name"][strings.LastIndexByte(l["name"], '.')+1:]
		}
		switch typ {
		case "socket":
			u.Sockets[l["name"]] = l["state"]
		case "service", "slice":
			u.States[l["name"]] = l["state"]
		}
	}
	return s, nil
}

func (s *Scrape) usage(k Key) *Usage {
	u := s.Usage[k]
	if u == nil {
		u = &Usage{States: map[string]string{}, Sockets: map[string]string{}}
		s.Usage[k] = u
	}
	return u
}

type labelSet map[string]string

func labels(m *dto.Metric) labelSet {
	l := labelSet{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

func (l labelSet) key() Key { return Key{l["tenant"], l["app"]} }

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	}
	return m.GetUntyped().GetValue()
}

// Fetch scrapes url (the router's /metrics), asking for the text format.
func Fetch(ctx context.Context, client *http.Client, url string) (*Scrape, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := client.Do(req)
	if err != nil {
		if ue, ok := errors.AsType[*neturl.Error](err); ok {
			err = ue.Err // it names the URL again
		}
		return nil, &UnreachableError{URL: url, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return nil, fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	return Parse(resp.Body, time.Now())
}

// UnreachableError: nothing answered at the metrics endpoint.
type UnreachableError struct {
	URL string
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the router's metrics endpoint %s: %v", e.URL, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }
