package router

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/ehecoatl/ehecoatl/health"
	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/naming"
	"github.com/ehecoatl/ehecoatl/router/certs"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// Defaults of Config.
const (
	DefaultManifestDir       = naming.ManifestDir
	DefaultRunDir            = naming.RunDir
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxHeaderBytes    = 32 << 10
	DefaultMaxBodyBytes      = 100 << 20
	DefaultTenantMaxInFlight = 256
	DefaultTenantMaxUpgraded = 1024
	DefaultClientMaxInFlight = 64
	DefaultBodyTimeout       = 30 * time.Second
	DefaultBodyMinRate       = 1 << 10
	DefaultMaxBufferedBodies = 64 << 20
	DefaultStartTimeout      = 30 * time.Second
	DefaultMaxIdlePerSocket  = 128
	DefaultIdleConnTimeout   = 90 * time.Second
	DefaultDialTimeout       = 5 * time.Second
	DefaultShutdownTimeout   = 30 * time.Second
)

// Config configures a Router. Zero values take the defaults above.
type Config struct {
	// ManifestDir is the installed manifest directory (/etc/ehecoatl).
	ManifestDir string
	// RunDir holds the app sockets: RunDir/<tenant>/<app>.sock
	// (/run/ehecoatl).
	RunDir string
	// Load reads and validates ManifestDir. An error (a set with errors)
	// keeps the current table. Nil means every host answers 404 until
	// SetManifests is called.
	Load func(dir string) (*manifest.Set, error)
	// Stopped, read at every load with the manifests, says which apps the
	// operator stopped (package stops); nil: none. Their domains, and
	// those of suspended tenants, are answered with 503 and Retry-After.
	// An error is logged and counts as no stops.
	Stopped func() (func(tenant, app string) bool, error)
	// Draining, read at every load like Stopped, lists the sockets (paths
	// relative to RunDir) that apply is restarting: no new request goes
	// to them (docs/OPERATIONS.md "Deploys"). nil: none.
	Draining func() (map[string]bool, error)
	// DrainedReport is the file where the router lists, one per line, the
	// drained sockets with no request in flight; "" writes none.
	DrainedReport string

	// ReadHeaderTimeout bounds the time to read a request head (slowloris).
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes client keep-alive connections idle this long.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps a request head; larger ones get 431.
	MaxHeaderBytes int
	// MaxBodyBytes caps a request body; larger ones get 413. <0: no limit.
	MaxBodyBytes int64
	// TenantMaxInFlight caps the requests of one tenant being forwarded at
	// once; over it the router answers 503 with Retry-After at once.
	// <0: no cap.
	TenantMaxInFlight int
	// TenantMaxUpgraded caps one tenant's open WebSocket (upgraded)
	// connections, which do not count against TenantMaxInFlight. <0: no cap.
	TenantMaxUpgraded int
	// ClientMaxInFlight caps the requests one client address has open to
	// one tenant, counted from the end of the request head, so that a
	// single address can never fill TenantMaxInFlight; over it the router
	// answers 429 with Retry-After. IPv6 addresses count per /64. The
	// address is the TCP peer's: behind a front proxy every client shares
	// it, so set -1 there (X-Forwarded-For is not trusted). <0: no cap.
	ClientMaxInFlight int
	// BodyTimeout and BodyMinRate bound how slowly a request body may
	// arrive: it must average BodyMinRate bytes per second and may fall
	// behind that pace by at most BodyTimeout (so no pause may last longer
	// either). A body too slow is cut with 408. BodyMinRate <0: only the
	// pauses are bounded.
	BodyTimeout time.Duration
	BodyMinRate int64
	// MaxBufferedBodyBytes caps the memory, all clients together, of
	// request bodies read before the request takes a tenant slot (the
	// first 64 KiB of each body, or all of a smaller one). Past it bodies
	// stream at once, under the same pace. <0: bodies are never buffered.
	MaxBufferedBodyBytes int64
	// StartTimeout is how long a request on a new connection waits for the
	// app's response head: a stopped app is started by systemd meanwhile.
	// Past it the answer is 503 with Retry-After. <0: wait forever.
	StartTimeout time.Duration
	// MaxIdleConnsPerUpstream caps the kept-alive connections per socket.
	MaxIdleConnsPerUpstream int
	// IdleConnTimeout closes kept-alive app connections unused this long
	// (and at the latest after half the app's idle_timeout).
	IdleConnTimeout time.Duration
	// DialTimeout bounds connecting to an app socket.
	DialTimeout time.Duration
	// Loops is the number of epoll loops that serve plain HTTP/1.1
	// (loop.go; docs/DESIGN.md "Router: what a proxied request costs"),
	// one thread each: the router's default is one per CPU. 0 serves
	// every connection on the goroutine path.
	Loops int
	// ShutdownTimeout is the grace period for requests in flight at stop.
	ShutdownTimeout time.Duration
	// IdleCheckInterval is how often idle apps are looked for (1s).
	IdleCheckInterval time.Duration

	// TrustedProxies are the address ranges of the front proxies (load
	// balancers, CDNs) whose X-Forwarded-For, X-Forwarded-Proto,
	// X-Forwarded-Host and Forwarded fields are passed on to apps: from a
	// TCP peer in one of them X-Forwarded-For is appended to with the
	// peer's address, and the other three are kept as sent (the router's
	// own X-Forwarded-Proto and -Host where absent). From any other peer
	// the four are dropped, as any client can write them, and the app
	// gets X-Forwarded-For: the peer's address, X-Forwarded-Proto: http or
	// https by the connection, and X-Forwarded-Host: the Host. A bare
	// address is a /32 (/128) prefix (ParseTrustedProxies); IPv4-mapped
	// peers match IPv4 prefixes. Empty: trust nobody. The per-client cap
	// (ClientMaxInFlight) counts the TCP peer all the same.
	TrustedProxies []netip.Prefix

	// Certs serves HTTPS: a certificate per SNI name, the ACME challenges
	// (package router/certs). nil: HTTPS listeners close every connection.
	Certs Certificates
	// CertState is where the state of Certs is written for `ehecoatl
	// status` and `routes` (tlsstate.Path under systemd); "" writes none.
	CertState string

	// HealthState is where the instances' health is written for `ehecoatl
	// status` (health.Path under systemd); "" writes none.
	HealthState string
	// HealthInterval is how often the running instances of apps with a
	// health: path are probed (health.Interval).
	HealthInterval time.Duration
	// Running says which of the units (per instance, the service its
	// socket starts) are active, so that only running instances are
	// probed; nil: every instance counts as running.
	Running func(ctx context.Context, units []string) ([]bool, error)
	// HealthLog receives each instance's transition to up or down; nil:
	// the journal with EHECOATL_TENANT, EHECOATL_APP, EHECOATL_INSTANCE
	// and EHECOATL_HEALTH (else Logger).
	HealthLog func(tenant, app string, instance int, up bool, msg string)

	// Stopper stops idle activation apps; nil disables idle stop.
	Stopper IdleStopper
	// Units tells whether systemd gave up on an app that a request could
	// not reach: then the answer is 503 with Retry-After at once, not 502.
	// nil: always 502.
	Units UnitStates
	// AccessLog receives one entry per request; nil: the journal when
	// available, stderr otherwise.
	AccessLog AccessLogger
	// MetricsPerDomain adds ehecoatl_domain_requests_total, the requests
	// of each route's domain (docs/METRICS.md): a series per domain,
	// which is why it is an opt-in.
	MetricsPerDomain bool
	// Version is the ehecoatl_build_info version label; "" is "dev".
	Version string

	// Logger is for the router's own messages; nil: slog to stderr.
	Logger *slog.Logger
	// Notify sends sd_notify(3) states; nil: daemon.SdNotify.
	Notify func(state string)
}

func (c Config) withDefaults() Config {
	setDefault(&c.ManifestDir, DefaultManifestDir)
	setDefault(&c.RunDir, DefaultRunDir)
	setDefault(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	setDefault(&c.IdleTimeout, DefaultIdleTimeout)
	setDefault(&c.MaxHeaderBytes, DefaultMaxHeaderBytes)
	setDefault(&c.MaxBodyBytes, DefaultMaxBodyBytes)
	setDefault(&c.TenantMaxInFlight, DefaultTenantMaxInFlight)
	setDefault(&c.TenantMaxUpgraded, DefaultTenantMaxUpgraded)
	setDefault(&c.ClientMaxInFlight, DefaultClientMaxInFlight)
	setDefault(&c.BodyTimeout, DefaultBodyTimeout)
	setDefault(&c.BodyMinRate, DefaultBodyMinRate)
	setDefault(&c.MaxBufferedBodyBytes, DefaultMaxBufferedBodies)
	setDefault(&c.StartTimeout, DefaultStartTimeout)
	setDefault(&c.MaxIdleConnsPerUpstream, DefaultMaxIdlePerSocket)
	setDefault(&c.IdleConnTimeout, DefaultIdleConnTimeout)
	setDefault(&c.DialTimeout, DefaultDialTimeout)
	setDefault(&c.ShutdownTimeout, DefaultShutdownTimeout)
	setDefault(&c.IdleCheckInterval, time.Second)
	setDefault(&c.HealthInterval, health.Interval)
	c.TrustedProxies = trustedPrefixes(c.TrustedProxies)
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if c.Notify == nil {
		c.Notify = func(state string) { daemon.SdNotify(false, state) }
	}
	return c
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Certificates is what the router needs of its certificate engine;
// *certs.Manager implements it.
type Certificates interface {
	// SetNames replaces the names served over HTTPS, at every table swap.
	SetNames(names map[string]certs.Policy) []error
	// TLSConfig is the server configuration; GetCertificate refuses names
	// not set.
	TLSConfig() *tls.Config
	// HTTPChallenge answers an ACME HTTP-01 request.
	HTTPChallenge(host, path string) (body string, ok bool)
	// Status reports each name's certificate, for Config.CertState.
	Status() []certs.DomainStatus
}

var _ Certificates = (*certs.Manager)(nil)

// Router is the HTTP front door: the routing table, the app state and the
// limits. Serve (or a Server from NewServer) runs it on listeners.
type Router struct {
	cfg    Config
	reg    *registry
	table  atomic.Pointer[Table]
	mu     sync.Mutex // serialises reloads
	access AccessLogger
	// clients counts requests per client address and tenant; buffered is
	// the memory of request bodies being buffered (MaxBufferedBodyBytes).
	clients  clientLimiter
	buffered atomic.Int64
	// anyDrained: some worker is drained (drain.go).
	anyDrained atomic.Bool
	// ownAccess: the access logger was created here and is closed by Close.
	ownAccess bool
	// met are the router's own counters; metrics is the registry
	// ServeMetrics serves (metricsserve.go).
	met     routerMetrics
	metrics *prometheus.Registry
	// writers are AddMetrics's, under writersMu: not mu, which a reload
	// holds while it builds a table, so that a scrape never waits for one.
	writersMu sync.Mutex
	writers   []MetricsWriter

	// healthDirty asks healthLoop to rewrite Config.HealthState.
	healthDirty chan struct{}

	closeOnce sync.Once
	// loops are the background loops that write the router's records;
	// Close waits for them, so that none writes after it returned.
	loops sync.WaitGroup
	done  chan struct{}
}

// New creates a router and loads its first table with cfg.Load. A manifest
// set with errors at start is logged and leaves the table empty (every
// host 404) rather than failing: a reload with fixed manifests recovers
// without a restart, and one broken tenant file cannot keep the router
// (and every other tenant) down after a reboot.
func New(cfg Config) (*Router, error) {
	cfg = cfg.withDefaults()
	rt := &Router{cfg: cfg, reg: newRegistry(cfg), done: make(chan struct{}), healthDirty: make(chan struct{}, 1)}
	rt.clients.max = int32(min(cfg.ClientMaxInFlight, 1<<30))
	rt.table.Store(&Table{exact: map[string]*hostRoutes{}, wild: map[string]*hostRoutes{}})
	rt.access = cfg.AccessLog
	if rt.access == nil {
		rt.access = NewAccessLog(nil)
		rt.ownAccess = true
	}
	if err := rt.newMetrics(); err != nil {
		return nil, err
	}
	if cfg.Load != nil {
		if err := rt.load(); err != nil {
			cfg.Logger.Error("initial manifests rejected; serving no routes until a reload succeeds", "err", err)
		}
	}
	go rt.idleLoop()
	if cfg.DrainedReport != "" {
		rt.background(rt.drainLoop)
	}
	rt.background(rt.healthLoop)
	if cfg.Certs != nil && cfg.CertState != "" {
		rt.background(rt.certStateLoop)
	}
	return rt, nil
}

// Table returns the current routing table.
func (rt *Router) Table() *Table { return rt.table.Load() }

// Reload re-reads the manifests and swaps the table atomically, telling
// systemd RELOADING=1 then READY=1. On error the old table stays in use.
// Requests in flight keep the state they started with and complete.
func (rt *Router) Reload() error {
	rt.cfg.Notify(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", monotonicUsec()))
	defer rt.cfg.Notify("READY=1")
	if rt.cfg.Load == nil {
		return errors.New("router: no manifest loader configured")
	}
	err := rt.load()
	if err != nil {
		rt.cfg.Logger.Error("reload failed; keeping the previous routing table", "err", err)
	}
	return err
}

// loadDrained marks the drained workers of the current table.
func (rt *Router) loadDrained() {
	if rt.cfg.Draining == nil {
		return
	}
	d, err := rt.cfg.Draining()
	if err != nil {
		rt.cfg.Logger.Error("drain record unreadable; sending to every worker", "err", err)
	}
	rt.mu.Lock()
	rt.markDrained(rt.table.Load(), d)
	rt.mu.Unlock()
}

func (rt *Router) load() error {
	began := time.Now()
	set, err := rt.cfg.Load(rt.cfg.ManifestDir)
	if err != nil {
		rt.countLoad(began, err)
		rt.loadDrained() // a rollout goes on while a manifest is broken
		return err
	}
	var stopped func(tenant, app string) bool
	if rt.cfg.Stopped != nil {
		if stopped, err = rt.cfg.Stopped(); err != nil {
			rt.cfg.Logger.Error("operator stops unreadable; serving every installed app", "err", err)
		}
	}
	err = rt.setManifests(set, stopped)
	rt.countLoad(began, err)
	rt.loadDrained()
	// Parsing thousands of manifests grows the heap far beyond the table
	// it leaves (about 9 MB live for 10,000 routes against 50-65 MB of
	// RSS measured): give that memory back now rather than whenever the
	// scavenger gets to it. Loads are rare (start, reload).
	debug.FreeOSMemory()
	return err
}

// SetManifests builds a table from set and makes it current. State of apps
// whose sockets are unchanged (pools, counters, idle tracking) carries
// over; pools of removed apps are closed.
func (rt *Router) SetManifests(set *manifest.Set) error { return rt.setManifests(set, nil) }

func (rt *Router) setManifests(set *manifest.Set, stopped func(tenant, app string) bool) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	t, err := buildTable(set, rt.cfg.RunDir, rt.reg, stopped)
	if err != nil {
		rt.reg.abort()
		return err
	}
	for _, a := range t.apps {
		limit := rt.cfg.IdleConnTimeout
		if it := time.Duration(a.idleTimeout.Load()); it > 0 && it/2 < limit {
			limit = it / 2
		}
		for _, u := range a.ups {
			u.idleTimeout.Store(int64(limit))
		}
	}
	rt.table.Store(t)
	rt.reg.commit()
	select {
	case rt.healthDirty <- struct{}{}:
	default:
	}
	rt.cfg.Logger.Info("routing table loaded", "routes", len(t.routes), "apps", len(t.apps), "https", len(t.certs))
	if rt.cfg.Certs != nil {
		// A certificate that cannot be loaded leaves its domain without
		// HTTPS (handshakes for it fail), not the table unloaded.
		for _, err := range rt.cfg.Certs.SetNames(t.certs) {
			rt.cfg.Logger.Error("certificate", "err", err)
		}
	}
	return nil
}

func (rt *Router) logf(format string, args ...any) {
	rt.cfg.Logger.Warn(fmt.Sprintf(format, args...))
}

// Serve serves every listener in httpLns and httpsLns, tells systemd
// READY=1, and runs until ctx is done (or a listener fails), then shuts
// down gracefully (requests in flight get ShutdownTimeout). Each
// connection is HTTPS or plain HTTP by its first byte (https.go), so one
// socket unit can listen on 80 and 443; without Config.Certs TLS
// handshakes are refused.
func (rt *Router) Serve(ctx context.Context, httpLns, httpsLns []net.Listener) error {
	lns := append(append([]net.Listener{}, httpLns...), httpsLns...)
	if len(lns) == 0 {
		return errors.New("router: no listener")
	}
	srv := rt.NewServer()
	errc := make(chan error, len(lns))
	for _, l := range lns {
		go func() { errc <- srv.Serve(l) }()
	}
	rt.cfg.Notify("READY=1")
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	rt.cfg.Notify("STOPPING=1")
	sctx, cancel := context.WithTimeout(context.Background(), rt.cfg.ShutdownTimeout)
	defer cancel()
	srv.Shutdown(sctx)
	rt.Close()
	if errors.Is(err, ErrServerClosed) {
		err = nil
	}
	return err
}

// tlsConfig is the certificate engine's configuration with the protocols
// the front end speaks: HTTP/2 first (h2.go), HTTP/1.1 (which WebSocket
// upgrades need), and acme-tls/1 for TLS-ALPN-01 challenges
// (docs/OPERATIONS.md "HTTPS"); nil without Certs.
func (rt *Router) tlsConfig() *tls.Config {
	if rt.cfg.Certs == nil {
		return nil
	}
	c := rt.cfg.Certs.TLSConfig().Clone()
	c.NextProtos = []string{"h2", "http/1.1", "acme-tls/1"}
	// Go's default key exchanges: X25519MLKEM768 (post-quantum hybrid)
	// first, then X25519 and the NIST curves.
	c.CurvePreferences = nil
	return c
}

// background runs loop until Close.
func (rt *Router) background(loop func()) {
	rt.loops.Add(1)
	go func() {
		defer rt.loops.Done()
		loop()
	}()
}

// Close stops the idle loop, closes every pooled connection and flushes
// the access log. The router must not serve afterwards.
func (rt *Router) Close() {
	rt.closeOnce.Do(func() {
		close(rt.done)
		rt.loops.Wait()
		rt.mu.Lock()
		for _, a := range rt.reg.apps {
			a.close()
		}
		rt.mu.Unlock()
		if rt.ownAccess {
			if c, ok := rt.access.(interface{ Close() }); ok {
				c.Close()
			}
		}
	})
}

// monotonicUsec is CLOCK_MONOTONIC in microseconds, which systemd wants
// with RELOADING=1 (Type=notify-reload, systemd >= 253).
func monotonicUsec() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) != nil {
		return 0
	}
	return ts.Nano() / 1e3
}
