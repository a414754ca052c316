package router

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/manifest"
)

// app is a shorthand for a manifest app in tests.
func app(tenant, name, path string, domains ...string) *manifest.App {
	return &manifest.App{Tenant: tenant, Name: name, Listen: manifest.ListenActivation, Domains: domains, Path: path, Workers: 1}
}

// mkSet builds a validated-looking Set from apps (one route per domain).
func mkSet(apps ...*manifest.App) *manifest.Set {
	set := &manifest.Set{}
	tenants := map[string]*manifest.Tenant{}
	for _, a := range apps {
		t := tenants[a.Tenant]
		if t == nil {
			t = &manifest.Tenant{Name: a.Tenant, File: "tenants/" + a.Tenant + ".yaml"}
			tenants[a.Tenant] = t
			set.Tenants = append(set.Tenants, t)
		}
		t.Apps = append(t.Apps, a)
		p := a.Path
		if p == "" {
			p = "/"
		}
		for _, d := range a.Domains {
			set.Routes = append(set.Routes, manifest.Route{Domain: d, Path: p, Tenant: a.Tenant, App: a.Name, File: t.File})
		}
	}
	sort.Slice(set.Tenants, func(i, j int) bool { return set.Tenants[i].Name < set.Tenants[j].Name })
	return set
}

// quietLogger discards the router's own messages unless -v.
func quietLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// captureLog records access entries.
type captureLog struct {
	mu      sync.Mutex
	entries []AccessEntry
}

func (c *captureLog) Log(e AccessEntry) {
	c.mu.Lock()
	c.entries = append(c.entries, e)
	c.mu.Unlock()
}

func (c *captureLog) all() []AccessEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]AccessEntry(nil), c.entries...)
}

// discardLog drops entries.
type discardLog struct{}

func (discardLog) Log(AccessEntry) {}

// fixture is a router on 127.0.0.1 plus app backends on unix sockets in a
// temporary run directory.
type fixture struct {
	t      testing.TB
	runDir string
	rt     *Router
	addr   string
	srv    *Server
	log    *captureLog
}

// testLoops is Config.Loops for the fixtures: 2, as the router runs on
// two CPUs, or EHECOATL_TEST_LOOPS (0: the goroutine path), so that the
// same tests run against both (make test runs them both ways). A
// fixture whose Config.Loops is -1 (fixture only: New takes no negative)
// always runs on the goroutine path, whatever the variable says.
var testLoops = func() int {
	if n, err := strconv.Atoi(os.Getenv("EHECOATL_TEST_LOOPS")); err == nil {
		return n
	}
	return 2
}()

func newFixture(t testing.TB, cfg Config, set *manifest.Set) *fixture {
	t.Helper()
	dir, err := os.MkdirTemp("", "ehr") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := &fixture{t: t, runDir: dir, log: &captureLog{}}
	cfg.RunDir = dir
	if cfg.Logger == nil {
		cfg.Logger = quietLogger(t)
	}
	if cfg.AccessLog == nil {
		cfg.AccessLog = f.log
	}
	cfg.Notify = func(string) {}
	switch {
	case cfg.Loops < 0:
		cfg.Loops = 0
	case cfg.Loops == 0:
		cfg.Loops = testLoops
	}
	rt, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if set != nil {
		if err := rt.SetManifests(set); err != nil {
			t.Fatal(err)
		}
	}
	f.rt = rt
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = l.Addr().String()
	f.srv = rt.NewServer()
	go f.srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		f.srv.Shutdown(ctx)
		rt.Close()
	})
	return f
}

// backend serves h on the socket of tenant/app (worker i when i > 0).
func (f *fixture) backend(tenant, appName string, worker int, h http.Handler) *http.Server {
	f.t.Helper()
	name := appName + ".sock"
	if worker > 0 {
		name = appName + "@" + strconv.Itoa(worker) + ".sock"
	}
	return serveUnix(f.t, filepath.Join(f.runDir, tenant, name), h)
}

func serveUnix(t testing.TB, path string, h http.Handler) *http.Server {
	return serveUnixServer(t, path, &http.Server{Handler: h})
}

func serveUnixServer(t testing.TB, path string, s *http.Server) *http.Server {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return s
}

// client returns an http.Client that sends every request to the router
// whatever the URL's host says (the Host header stays the URL's).
func (f *fixture) client() *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", f.addr)
		},
		MaxIdleConnsPerHost: 512,
		DisableCompression:  true,
	}
	f.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

func (f *fixture) get(c *http.Client, url string) (int, string, http.Header) {
	f.t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		f.t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatalf("GET %s: body: %v", url, err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// send writes raw bytes to the router on a new connection (5 s to
// answer), for the caller to read and close.
func (f *fixture) send(req string) net.Conn {
	f.t.Helper()
	c, err := net.DialTimeout("tcp", f.addr, 2*time.Second)
	if err != nil {
		f.t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, req)
	return c
}

// raw sends raw bytes to the router and returns the first response line.
func (f *fixture) raw(req string) string {
	f.t.Helper()
	c := f.send(req)
	defer c.Close()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		f.t.Fatalf("reading response to %q: %v", req[:min(len(req), 60)], err)
	}
	return strings.TrimSpace(line)
}

// hello answers "hello from NAME".
func hello(name string) http.Handler {
	body := []byte("hello from " + name)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	})
}
