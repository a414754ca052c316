// The metrics listener: /metrics on a socket of its own
// (ehecoatl-router-metrics.socket, FileDescriptorName=metrics;
// docs/METRICS.md).

package router

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/ehecoatl/ehecoatl/internal/promtext"
)

// Limits of the metrics listener: a scrape is one small request, from a
// local Prometheus, so anything slower or larger is not one.
const (
	metricsReadTimeout  = 5 * time.Second
	metricsWriteTimeout = 30 * time.Second
	metricsIdleTimeout  = 2 * time.Minute
	metricsMaxHeader    = 8 << 10
	// metricsMaxScrapes: more scrapes at once are answered 503 at once,
	// so a flood of them costs the router little.
	metricsMaxScrapes = 4
	// metricsScrapeTimeout bounds a scrape (answered 503 after it).
	metricsScrapeTimeout = 20 * time.Second
)

// MetricsHandler serves /metrics (Prometheus text, or OpenMetrics when
// the scraper asks for it; gzipped when it accepts that) and 404 for
// every other path: nothing on the metrics listener is a tenant's.
func (rt *Router) MetricsHandler() http.Handler {
	sem := make(chan struct{}, metricsMaxScrapes)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "405 Method Not Allowed", http.StatusMethodNotAllowed)
			return
		}
		select {
		case sem <- struct{}{}:
		default:
			http.Error(w, "too many scrapes at once", http.StatusServiceUnavailable)
			return
		}
		// A scrape can wait on systemd (package usage): past the timeout
		// it is answered 503, and its reading keeps its place in sem
		// until it returns.
		format := expfmt.NegotiateIncludingOpenMetrics(r.Header)
		done := make(chan scraped, 1)
		go func() { done <- rt.scrape(format) }()
		t := time.NewTimer(metricsScrapeTimeout)
		defer t.Stop()
		select {
		case sc := <-done:
			rt.serveScrape(w, r, format, sc)
			<-sem
			return
		case <-t.C:
			http.Error(w, "the scrape took longer than "+metricsScrapeTimeout.String(), http.StatusServiceUnavailable)
		case <-r.Context().Done():
		}
		go func() {
			sc := <-done
			scrapeBufs.Put(&sc.body)
			<-sem
		}()
	})
}

// scrapeBufs are the buffers of past scrapes: a scrape of 1,000 tenants
// is megabytes, and a new buffer each time would be garbage as large.
var scrapeBufs sync.Pool

type scraped struct {
	body []byte
	err  error
}

// scrape writes the registry's families (Go runtime, process) with
// expfmt, then the router's own and the AddMetrics writers' (package
// usage) with promtext, which writes their series without client_golang's
// per-series objects, sort and checks (docs/DESIGN.md "Router: counting
// requests for the metrics").
func (rt *Router) scrape(format expfmt.Format) scraped {
	families, err := rt.metrics.Gather()
	if err != nil {
		return scraped{err: fmt.Errorf("gather: %w", err)}
	}
	var buf []byte
	if p, ok := scrapeBufs.Get().(*[]byte); ok {
		buf = (*p)[:0]
	}
	out := bytes.NewBuffer(buf)
	enc := expfmt.NewEncoder(out, format)
	for _, mf := range families {
		if err := enc.Encode(mf); err != nil {
			return scraped{err: fmt.Errorf("encode: %w", err)}
		}
	}
	om := format.FormatType() == expfmt.TypeOpenMetrics
	w := promtext.NewWriter(out.Bytes(), om)
	rt.writeMetrics(w)
	rt.writersMu.Lock()
	writers := rt.writers
	rt.writersMu.Unlock()
	for _, m := range writers {
		m.WriteMetrics(w)
	}
	body := w.Bytes()
	if om {
		body = append(body, "# EOF\n"...)
	}
	return scraped{body: body}
}

// serveScrape sends a scrape's body, gzipped when the scraper accepts it.
func (rt *Router) serveScrape(w http.ResponseWriter, r *http.Request, format expfmt.Format, sc scraped) {
	if sc.err != nil {
		rt.cfg.Logger.Warn("metrics", "err", sc.err)
		http.Error(w, "metrics: "+sc.err.Error(), http.StatusInternalServerError)
		return
	}
	body := sc.body
	defer func() { scrapeBufs.Put(&body) }()
	h := w.Header()
	h.Set("Content-Type", string(format))
	h.Add("Vary", "Accept-Encoding")
	if !acceptsGzip(r.Header.Get("Accept-Encoding")) {
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
		return
	}
	h.Set("Content-Encoding", "gzip")
	gz, _ := gzipWriters.Get().(*gzip.Writer)
	if gz == nil {
		gz, _ = gzip.NewWriterLevel(w, gzip.BestSpeed) // text compresses well at the fastest level
	} else {
		gz.Reset(w)
	}
	gz.Write(body)
	gz.Close()
	gzipWriters.Put(gz)
}

var gzipWriters sync.Pool

// acceptsGzip: the Accept-Encoding header names gzip without q=0.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

// ServeMetrics serves MetricsHandler on l until ctx is done.
func (rt *Router) ServeMetrics(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           rt.MetricsHandler(),
		ReadHeaderTimeout: metricsReadTimeout,
		ReadTimeout:       metricsReadTimeout,
		WriteTimeout:      metricsWriteTimeout,
		IdleTimeout:       metricsIdleTimeout,
		MaxHeaderBytes:    metricsMaxHeader,
		ErrorLog:          slog.NewLogLogger(rt.cfg.Logger.Handler(), slog.LevelDebug),
	}
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	defer stop()
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
