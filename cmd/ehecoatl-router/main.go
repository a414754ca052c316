// Command ehecoatl-router is Ehecoatl's HTTP front door (ehecoatl-router(8), docs/OPERATIONS.md). It is
// started by ehecoatl-router.socket (FileDescriptorName=http / https) or,
// for tests without systemd, listens on --listen. SIGHUP reloads the
// routing table from the installed manifests; SIGTERM/SIGINT stop it
// gracefully.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/ehecoatl/ehecoatl/dbus"
	"github.com/ehecoatl/ehecoatl/drains"
	"github.com/ehecoatl/ehecoatl/health"
	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/naming"
	"github.com/ehecoatl/ehecoatl/router"
	"github.com/ehecoatl/ehecoatl/stops"
	"github.com/ehecoatl/ehecoatl/tlsstate"
)

// version is set at build time (-ldflags -X main.version=...), for
// ehecoatl_build_info.
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("ehecoatl-router", flag.ContinueOnError)
	var cfg router.Config
	reload := fs.String("reload", "", "signal the router with this `PID` to reload and wait until it has (ExecReload=)")
	noIdleStop := fs.Bool("no-idle-stop", false, "never stop idle apps over D-Bus")
	listen := fs.String("listen", "", "listen on this address (e.g. 127.0.0.1:8080) instead of systemd's sockets")
	fs.StringVar(&cfg.ManifestDir, "manifests", router.DefaultManifestDir, "installed manifest directory")
	stopsFile := fs.String("stops", naming.StopsFile, "the record of the operator's stops (ehecoatl stop), read with the manifests")
	fs.StringVar(&cfg.RunDir, "run-dir", router.DefaultRunDir, "directory of the app sockets (<tenant>/<app>.sock)")
	fs.DurationVar(&cfg.StartTimeout, "start-timeout", router.DefaultStartTimeout, "how long a request waits for a starting app before 503")
	fs.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", router.DefaultReadHeaderTimeout, "time allowed to read a request head")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", router.DefaultIdleTimeout, "close idle client keep-alive connections after this long")
	fs.IntVar(&cfg.MaxHeaderBytes, "max-header-bytes", router.DefaultMaxHeaderBytes, "largest request head (431 beyond)")
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", router.DefaultMaxBodyBytes, "largest request body (413 beyond); -1 for no limit")
	fs.IntVar(&cfg.TenantMaxInFlight, "tenant-max-inflight", router.DefaultTenantMaxInFlight, "concurrent requests per tenant (503 beyond); -1 for no cap")
	fs.IntVar(&cfg.ClientMaxInFlight, "client-max-inflight", router.DefaultClientMaxInFlight, "concurrent requests per client address (IPv6: per /64) and tenant (429 beyond); -1 for no cap, as behind a front proxy")
	fs.DurationVar(&cfg.BodyTimeout, "body-timeout", router.DefaultBodyTimeout, "how far a request body may fall behind -body-min-rate, and its longest pause (408 beyond)")
	fs.Int64Var(&cfg.BodyMinRate, "body-min-rate", router.DefaultBodyMinRate, "bytes per second a request body must average; -1 bounds only its pauses")
	fs.Int64Var(&cfg.MaxBufferedBodyBytes, "max-buffered-body-bytes", router.DefaultMaxBufferedBodies, "memory for request bodies read before they take a tenant slot, all together; -1 never buffers")
	fs.IntVar(&cfg.TenantMaxUpgraded, "tenant-max-websockets", router.DefaultTenantMaxUpgraded, "open WebSocket connections per tenant; -1 for no cap")
	fs.DurationVar(&cfg.HealthInterval, "health-interval", health.Interval, "how often the running instances of apps with a health: path are probed")
	fs.IntVar(&cfg.MaxIdleConnsPerUpstream, "max-idle-per-socket", router.DefaultMaxIdlePerSocket, "kept-alive connections per app socket")
	accessLog := fs.String("access-log", "auto", "where access log lines go: auto (the journal when there is one, else stderr), stderr, off")
	stateDir := fs.String("state-dir", "", "directory of the ACME account and issued certificates (default: $STATE_DIRECTORY from StateDirectory=)")
	fs.BoolVar(&cfg.MetricsPerDomain, "metrics-per-domain", false, "count requests per domain too (ehecoatl_domain_requests_total: a series per domain)")
	fs.IntVar(&cfg.Loops, "loops", -1, "epoll loops serving plain HTTP/1.1, a thread each; -1: one per CPU (GOMAXPROCS), 0: none (every connection on goroutines)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to `FILE` until the router stops (for benchmarks)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "ehecoatl-router: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg.Logger = log
	cfg.Version = version
	if cfg.Loops < 0 {
		cfg.Loops = runtime.GOMAXPROCS(0)
	}
	if cfg.Loops > 0 {
		// One P more than loops, for the goroutine path and the runtime:
		// with a P idle, the runtime leaves a loop's P alone while the
		// loop waits in epoll_wait (sysmon retakes a P in a system call
		// only when none is idle, or after 10 ms); without one, every
		// wait handed the P to a new thread and back (docs/DESIGN.md
		// "Router: what a proxied request costs").
		runtime.GOMAXPROCS(cfg.Loops + 1)
	}
	switch *accessLog {
	case "auto":
	case "stderr":
		cfg.AccessLog = router.NewAccessLog(os.Stderr)
	case "off":
		cfg.AccessLog = router.DiscardAccessLog{}
	default:
		fmt.Fprintf(os.Stderr, "ehecoatl-router: --access-log must be auto, stderr or off, not %q\n", *accessLog)
		return 2
	}
	cfg.Load = loadManifests(log)
	cfg.Stopped = func() (func(tenant, app string) bool, error) {
		rec, err := stops.Load(*stopsFile)
		return rec.Stopped, err
	}
	// Rollouts (docs/OPERATIONS.md "Deploys"): the record sits beside the
	// app sockets, the report in the router's runtime directory.
	cfg.Draining = func() (map[string]bool, error) {
		return drains.Load(filepath.Join(cfg.RunDir, filepath.Base(naming.DrainFile)))
	}
	if d := os.Getenv("RUNTIME_DIRECTORY"); d != "" {
		cfg.DrainedReport = filepath.Join(d, filepath.Base(naming.RouterDrained))
	}
	if *reload != "" {
		return signalReload(*reload, cfg.StartTimeout)
	}
	// After --reload: a reload does not apply the environment, so a
	// mistake in it must not fail the reload of the manifests.
	var err error
	if cfg.TrustedProxies, err = trustedProxies(); err != nil {
		fmt.Fprintf(os.Stderr, "ehecoatl-router: %v\n", err)
		return 2
	}
	sd := &dbus.Client{}
	defer sd.Close()
	if !*noIdleStop {
		// The polkit rule 50-ehecoatl-router.rules is what allows the
		// unprivileged router to stop (only) app services.
		cfg.Stopper = sd
	}
	// A request that cannot reach an app whose units failed gets 503 at
	// once (docs/DESIGN.md "Start limits").
	cfg.Units = unitStates{sd}
	// Only instances whose service runs are probed (docs/OPERATIONS.md
	// "Health checks").
	cfg.Running = unitStates{sd}.Running
	if d := os.Getenv("RUNTIME_DIRECTORY"); d != "" {
		cfg.HealthState = filepath.Join(d, filepath.Base(health.Path))
	}

	var ls router.Listeners
	if *listen != "" {
		l, err := net.Listen("tcp", *listen)
		if err != nil {
			log.Error("listen", "err", err)
			return 1
		}
		ls.HTTP = []net.Listener{l}
	} else {
		var ok bool
		var err error
		ls, ok, err = router.ActivationListeners(log)
		if err != nil {
			log.Error("socket activation", "err", err)
			return 1
		}
		if !ok {
			fmt.Fprintln(os.Stderr, "ehecoatl-router: no sockets from systemd (LISTEN_FDS) and no --listen address")
			return 2
		}
	}

	// HTTPS. Without a working engine the router still serves plain HTTP,
	// and every TLS handshake is refused; the error says why.
	if m, err := newCerts(*stateDir, log); err != nil {
		log.Error("HTTPS disabled: no certificate engine", "err", err)
	} else {
		defer m.Close()
		cfg.Certs = m
		if d := os.Getenv("RUNTIME_DIRECTORY"); d != "" {
			cfg.CertState = filepath.Join(d, filepath.Base(tlsstate.Path))
		}
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Error("cpuprofile", "err", err)
			return 1
		}
		pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	rt, err := router.New(cfg)
	if err != nil {
		log.Error("start", "err", err)
		return 1
	}
	if len(ls.Metrics) > 0 {
		registerUsage(rt, sd, log)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	loads := 1
	recordReload(loads, nil)
	go func() {
		for range hup {
			err := rt.Reload() // logs and keeps the old table on error
			loads++
			recordReload(loads, err)
		}
	}()
	// The metrics socket (ehecoatl-router-metrics.socket, docs/METRICS.md)
	// is optional: EHECOATL_METRICS_LISTEN=off writes none. A failure
	// there is logged; requests go on.
	for _, l := range ls.Metrics {
		go func() {
			if err := rt.ServeMetrics(ctx, l); err != nil {
				log.Error("metrics listener", "addr", l.Addr().String(), "err", err)
			}
		}()
	}
	errc := make(chan error, 1)
	go func() { errc <- rt.Serve(ctx, ls.HTTP, ls.HTTPS) }()
	if err := <-errc; err != nil {
		log.Error("serve", "err", err)
		return 1
	}
	return 0
}

// envTrustedProxies, in /etc/default/ehecoatl-router, lists the front
// proxies whose X-Forwarded-* fields apps get (router.Config.TrustedProxies).
const envTrustedProxies = "EHECOATL_TRUSTED_PROXIES"

// trustedProxies parses $EHECOATL_TRUSTED_PROXIES; unset or empty trusts
// nobody.
func trustedProxies() ([]netip.Prefix, error) {
	ps, err := router.ParseTrustedProxies(os.Getenv(envTrustedProxies))
	if err != nil {
		return nil, fmt.Errorf("%s (/etc/default/ehecoatl-router): %w", envTrustedProxies, err)
	}
	return ps, nil
}

// loadManifests adapts manifest.Load to the router: a report with errors
// rejects the set (the old table stays); warnings are logged.
func loadManifests(log *slog.Logger) func(string) (*manifest.Set, error) {
	return func(dir string) (*manifest.Set, error) {
		set, rep := manifest.Load(dir)
		if rep.HasErrors() {
			return nil, fmt.Errorf("manifests in %s are invalid:\n%s", dir, rep.String())
		}
		if s := rep.String(); s != "" {
			log.Warn("manifest warnings", "findings", s)
		}
		return set, nil
	}
}
