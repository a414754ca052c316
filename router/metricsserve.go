// The metrics listener: /metrics on a socket of its own
// (ehecoatl-router-metrics.socket, FileDescriptorName=metrics;
// docs/METRICS.md).

package router

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Limits of the metrics listener: a scrape is one small request, from a
// local Prometheus, so anything slower or larger is not one.
const (
	metricsReadTimeout  = 5 * time.Second
	metricsWriteTimeout = 30 * time.Second
	metricsIdleTimeout  = 2 * time.Minute
	metricsMaxHeader    = 8 << 10
	// metricsMaxScrapes: more scrapes at once are answered 503 at once
	// (promhttp), so a flood of them costs the router little.
	metricsMaxScrapes = 4
	// metricsScrapeTimeout bounds the gathering (promhttp answers 503).
	metricsScrapeTimeout = 20 * time.Second
)

// MetricsHandler serves /metrics (Prometheus text, or OpenMetrics when
// the scraper asks for it) and 404 for every other path: nothing on the
// metrics listener is a tenant's.
func (rt *Router) MetricsHandler() http.Handler {
	h := promhttp.HandlerFor(rt.metrics, promhttp.HandlerOpts{
		EnableOpenMetrics:   true,
		MaxRequestsInFlight: metricsMaxScrapes,
		Timeout:             metricsScrapeTimeout,
		ErrorLog:            slog.NewLogLogger(rt.cfg.Logger.Handler(), slog.LevelWarn),
	})
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
		h.ServeHTTP(w, r)
	})
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
