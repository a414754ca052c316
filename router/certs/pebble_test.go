package certs

// The ACME tests run Let's Encrypt's test CA, Pebble, inside the test
// process (internal/pebbletest), with real validation: Pebble's VA resolves
// the test names through the package's DNS server (127.0.0.1) and connects
// to 127.0.0.1 on the ports of two tiny front ends that do what the router
// does: a plain-HTTP server that answers with Manager.HTTPChallenge, and a
// TLS listener using Manager.TLSConfig.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/internal/pebbletest"
)

// testDomain is the zone the test DNS server resolves to 127.0.0.1 (names
// starting with "fail" resolve to nothing).
const testDomain = pebbletest.Domain

const skipShort = "needs an embedded Pebble ACME CA and local listeners (about 20 s in all); runs without -short (make test)"

type pebbleCA struct {
	*pebbletest.CA
	t       *testing.T
	tlsAddr string

	front    atomic.Pointer[Manager] // the Manager behind the front ends
	httpHits atomic.Int64            // HTTP-01 requests answered
	alpnHits atomic.Int64            // acme-tls/1 handshakes completed
}

// startPebble starts the two front ends and Pebble (internal/pebbletest)
// validating against them, issuing certificates valid for validity (0:
// Pebble's default, 90 days).
func startPebble(t *testing.T, validity time.Duration) *pebbleCA {
	t.Helper()
	if testing.Short() {
		t.Skip(skipShort)
	}
	p := &pebbleCA{t: t}

	// the router's two listeners, as the router will use the Manager
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := p.front.Load()
		if m == nil {
			http.NotFound(w, r)
			return
		}
		body, ok := m.HTTPChallenge(r.Host, r.URL.Path)
		if !ok {
			http.NotFound(w, r)
			return
		}
		p.httpHits.Add(1)
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, body)
	})}
	go httpSrv.Serve(httpLn)
	t.Cleanup(func() { httpSrv.Close() })

	tlsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.tlsAddr = tlsLn.Addr().String()
	frontTLS := &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		m := p.front.Load()
		if m == nil {
			return nil, errors.New("no manager")
		}
		return m.TLSConfig(), nil
	}}
	go func() {
		for {
			c, err := tlsLn.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				tc := tls.Server(c, frontTLS)
				if tc.Handshake() != nil {
					return
				}
				if tc.ConnectionState().NegotiatedProtocol == "acme-tls/1" {
					p.alpnHits.Add(1)
					return // a validation: close right away, as the router must
				}
				io.Copy(io.Discard, tc) // until the client hangs up
			}()
		}
	}()
	t.Cleanup(func() { tlsLn.Close() })

	var logw io.Writer
	if os.Getenv("CERTS_TEST_PEBBLE_LOG") != "" {
		logw = os.Stderr
	}
	p.CA = pebbletest.Start(t, pebbletest.Options{
		HTTPPort: httpLn.Addr().(*net.TCPAddr).Port,
		TLSPort:  tlsLn.Addr().(*net.TCPAddr).Port,
		Validity: validity,
		Log:      logw,
	})
	return p
}

// newManager starts a Manager on dir against p and puts it behind the
// front ends.
func (p *pebbleCA) newManager(t *testing.T, dir string, tweak func(*Config)) *Manager {
	t.Helper()
	cfg := Config{StorageDir: dir, CA: p.Directory, CARoots: p.Roots, Logger: testLogger(t)}
	if tweak != nil {
		tweak(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	p.front.Store(m)
	return m
}

// dial makes a TLS handshake with the front end for name, verifying the
// chain against Pebble's root, and returns the leaf.
func (p *pebbleCA) dial(name string) (*x509.Certificate, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", p.tlsAddr, &tls.Config{
		ServerName: name,
		RootCAs:    p.IssuerRoots,
		NextProtos: []string{"h2", "http/1.1"},
	})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// waitState polls Status until name's state satisfies ok.
func waitState(t *testing.T, m *Manager, name string, timeout time.Duration, ok func(string) bool) DomainStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last DomainStatus
	for time.Now().Before(deadline) {
		for _, s := range m.Status() {
			if s.Domain == name {
				last = s
				if ok(s.State) {
					return s
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: state %q after %s", name, last.State, timeout)
	return last
}

func waitValid(t *testing.T, m *Manager, name string) DomainStatus {
	t.Helper()
	return waitState(t, m, name, 20*time.Second, func(s string) bool {
		if strings.HasPrefix(s, "failed") {
			t.Fatalf("%s: %s", name, s)
		}
		return s == "valid"
	})
}

// testLogger collects the Manager's and certmagic's logs and prints them
// if the test fails (or always with CERTS_TEST_LOG set).
func testLogger(t *testing.T) *slog.Logger {
	var mu sync.Mutex
	var buf bytes.Buffer
	w := writerFunc(func(b []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(b)
	})
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("CERTS_TEST_LOG") != "" {
			mu.Lock()
			t.Logf("logs:\n%s", buf.String())
			mu.Unlock()
		}
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// tempDir is a storage directory removed at the end without failing the
// test if background work still writes into it.
func tempDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "certs-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir + "/certs" // New creates it
}

// TestACMEHTTP01 obtains certificates over HTTP-01 only, checks what is
// refused and never ordered, unlisting, file modes, Status, and a restart
// on the same storage with the CA down.
func TestACMEHTTP01(t *testing.T) {
	p := startPebble(t, 0)
	dir := tempDir(t)
	m := p.newManager(t, dir, func(c *Config) { c.noTLSALPN01 = true })

	a, b := "a."+testDomain, "b."+testDomain
	off, unlisted := "off."+testDomain, "unlisted."+testDomain
	names := map[string]Policy{
		a:        {Mode: Auto, Tenant: "t1"},
		b:        {Mode: Auto, Tenant: "t2"},
		off:      {Mode: Off, Tenant: "t1"},
		"x.test": {Mode: Auto, Tenant: "t1"},
	}
	start := time.Now()
	errs := m.SetNames(names)
	if len(errs) != 1 || !errors.Is(errs[0], ErrNotPublic) || !strings.HasPrefix(errs[0].Error(), "x.test: ") {
		t.Fatalf("SetNames errors = %v, want one ErrNotPublic for x.test", errs)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("SetNames took %s: it must not wait on the CA", d)
	}
	sa := waitValid(t, m, a)
	waitValid(t, m, b)
	t.Logf("issued over HTTP-01 in %s", time.Since(start).Round(time.Millisecond))

	leafA, err := p.dial(a)
	if err != nil {
		t.Fatalf("handshake for %s: %v", a, err)
	}
	if leafA.DNSNames[0] != a || !leafA.NotAfter.Equal(sa.NotAfter) || sa.Source != "acme" {
		t.Errorf("leaf %v (not after %s), status %+v", leafA.DNSNames, leafA.NotAfter, sa)
	}
	if p.httpHits.Load() == 0 || p.alpnHits.Load() != 0 {
		t.Errorf("HTTP-01 answers %d, TLS-ALPN-01 handshakes %d: want >0 and 0", p.httpHits.Load(), p.alpnHits.Load())
	}
	for _, n := range []string{unlisted, off, "x.test"} {
		if _, err := p.dial(n); err == nil {
			t.Errorf("handshake for %s succeeded; want refused", n)
		}
		if _, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: n}); !errors.Is(err, errRefused) {
			t.Errorf("GetCertificate(%s) = %v, want refused", n, err)
		}
	}
	for n, want := range map[string]int{a: 1, b: 1, unlisted: 0, off: 0, "x.test": 0} {
		if got := p.Orders(n); got != want {
			t.Errorf("orders for %s = %d, want %d", n, got, want)
		}
	}
	for _, s := range m.Status() {
		switch s.Domain {
		case off, "x.test":
			if s.State != "none" || s.Source != "" {
				t.Errorf("status %+v, want none", s)
			}
		}
	}
	checkModes(t, dir)

	// unlisting b: refused, a keeps the very same cached certificate
	before, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: a})
	if err != nil {
		t.Fatal(err)
	}
	if errs := m.SetNames(map[string]Policy{a: {Mode: Auto, Tenant: "t1"}}); len(errs) != 0 {
		t.Fatal(errs)
	}
	if _, err := p.dial(b); err == nil {
		t.Errorf("%s still served after it left the list", b)
	}
	if len(m.cache.AllMatchingCertificates(b)) != 0 {
		t.Errorf("%s still in the cache", b)
	}
	after, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: a})
	if err != nil {
		t.Fatal(err)
	}
	if after.Leaf != before.Leaf {
		t.Errorf("%s: cache entry replaced (leaf serial %s -> %s)", a, before.Leaf.SerialNumber, after.Leaf.SerialNumber)
	}
	if leaf, err := p.dial(a); err != nil || leaf.SerialNumber.Cmp(leafA.SerialNumber) != 0 {
		t.Errorf("%s after unlisting b: %v, %v", a, leaf, err)
	}
	if st := m.Status(); len(st) != 1 || st[0].Domain != a {
		t.Errorf("Status = %+v, want only %s", st, a)
	}

	// restart: a second Manager on the same storage, the CA down
	m.Close()
	p.SetDown(true)
	m2 := p.newManager(t, dir, nil)
	m2.SetNames(map[string]Policy{a: {Mode: Auto, Tenant: "t1"}, b: {Mode: Auto, Tenant: "t2"}})
	waitValid(t, m2, a)
	waitValid(t, m2, b)
	if leaf, err := p.dial(a); err != nil || leaf.SerialNumber.Cmp(leafA.SerialNumber) != 0 {
		t.Errorf("%s after restart: %v, %v; want serial %s", a, leaf, err, leafA.SerialNumber)
	}
	if _, err := p.dial(b); err != nil {
		t.Errorf("%s after restart: %v", b, err)
	}
	if calls := p.DownCalls(); calls != 0 {
		t.Errorf("the restarted Manager sent %d requests to the CA", calls)
	}
}

// checkModes: directories 0700, private keys and the ACME account 0600.
func checkModes(t *testing.T, dir string) {
	t.Helper()
	keys := 0
	err := walk(dir, func(path string, fi os.FileInfo) {
		mode := fi.Mode().Perm()
		switch {
		case fi.IsDir():
			if mode != 0o700 {
				t.Errorf("%s: mode %o, want 700", path, mode)
			}
		case strings.HasSuffix(path, ".key") || strings.HasSuffix(path, ".json") || strings.HasSuffix(path, ".crt"):
			if strings.HasSuffix(path, ".key") {
				keys++
			}
			if mode != 0o600 {
				t.Errorf("%s: mode %o, want 600", path, mode)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if keys < 3 { // the account's and two certificates'
		t.Errorf("found %d private keys under %s", keys, dir)
	}
}

func walk(dir string, f func(string, os.FileInfo)) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	f(dir, fi)
	if !fi.IsDir() {
		return nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := walk(dir+"/"+e.Name(), f); err != nil {
			return err
		}
	}
	return nil
}

// TestACMETLSALPN01 obtains a certificate over TLS-ALPN-01 only, answered
// by GetCertificate on the front end's TLS listener.
func TestACMETLSALPN01(t *testing.T) {
	p := startPebble(t, 0)
	m := p.newManager(t, tempDir(t), func(c *Config) { c.noHTTP01 = true })
	name := "alpn." + testDomain
	start := time.Now()
	m.SetNames(map[string]Policy{name: {Mode: Auto, Tenant: "t1"}})
	waitValid(t, m, name)
	t.Logf("issued over TLS-ALPN-01 in %s", time.Since(start).Round(time.Millisecond))
	if p.alpnHits.Load() == 0 || p.httpHits.Load() != 0 {
		t.Errorf("TLS-ALPN-01 handshakes %d, HTTP-01 answers %d: want >0 and 0", p.alpnHits.Load(), p.httpHits.Load())
	}
	if leaf, err := p.dial(name); err != nil || leaf.DNSNames[0] != name {
		t.Errorf("handshake: %v, %v", leaf, err)
	}
	// an acme-tls/1 hello with no challenge in progress gets nothing
	conn, err := tls.Dial("tcp", p.tlsAddr, &tls.Config{ServerName: name, InsecureSkipVerify: true, NextProtos: []string{"acme-tls/1"}})
	if err == nil {
		conn.Close()
		t.Errorf("acme-tls/1 handshake without a challenge succeeded")
	}
}

// TestACMERenewal: Pebble issues 12-second certificates and certmagic's
// maintenance runs every second; a renewal must replace the served
// certificate (new serial).
func TestACMERenewal(t *testing.T) {
	p := startPebble(t, 12*time.Second)
	m := p.newManager(t, tempDir(t), func(c *Config) { c.renewCheckInterval = time.Second })
	name := "renew." + testDomain
	m.SetNames(map[string]Policy{name: {Mode: Auto, Tenant: "t1"}})
	first := waitValid(t, m, name)
	leaf1, err := p.dial(name)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(25 * time.Second)
	for {
		leaf, err := p.dial(name)
		if err == nil && leaf.SerialNumber.Cmp(leaf1.SerialNumber) != 0 {
			s := waitValid(t, m, name)
			if !s.NotAfter.After(first.NotAfter) {
				t.Errorf("NotAfter %s after renewal, was %s", s.NotAfter, first.NotAfter)
			}
			t.Logf("renewed %s after %s: serial %x -> %x", name, time.Since(leaf1.NotBefore).Round(time.Second), leaf1.SerialNumber, leaf.SerialNumber)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no renewal within 25 s (last: %v, %v)", leaf, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := p.Orders(name); n < 2 {
		t.Errorf("orders for %s = %d, want >= 2", name, n)
	}
}

// TestACMEFailureBackoff: a name whose validation fails reports the CA's
// reason, is not retried right away, and after two failed attempts within
// an hour gets no new order even when it is removed and listed again, or
// after a restart.
func TestACMEFailureBackoff(t *testing.T) {
	p := startPebble(t, 0)
	dir := tempDir(t)
	m := p.newManager(t, dir, func(c *Config) { c.noTLSALPN01 = true })
	name := "fail." + testDomain
	list := map[string]Policy{name: {Mode: Auto, Tenant: "t1"}}
	failed := func(s string) bool { return strings.HasPrefix(s, "failed: ") }

	m.SetNames(list)
	s := waitState(t, m, name, 20*time.Second, failed)
	t.Logf("status: %s", s.State)
	if !strings.Contains(s.State, "resolve") {
		t.Errorf("state %q does not carry the CA's reason", s.State)
	}
	n1 := p.Orders(name)
	if n1 < 1 {
		t.Fatalf("orders = %d", n1)
	}
	time.Sleep(1500 * time.Millisecond)
	if n := p.Orders(name); n != n1 {
		t.Errorf("retried at once: %d orders, then %d", n1, n)
	}

	// listed again: a second attempt is allowed
	m.SetNames(nil)
	m.SetNames(list)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if n, _ := m.holdOff(name, time.Now()); n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no second failed attempt")
		}
		time.Sleep(50 * time.Millisecond)
	}
	n2 := p.Orders(name)
	if n2 <= n1 {
		t.Fatalf("orders %d, then %d", n1, n2)
	}

	// listed again: held off, no order
	m.SetNames(nil)
	m.SetNames(list)
	time.Sleep(1500 * time.Millisecond)
	if n := p.Orders(name); n != n2 {
		t.Errorf("a third attempt within the hour sent an order (%d -> %d)", n2, n)
	}
	if s := waitState(t, m, name, time.Second, failed); !strings.Contains(s.State, "resolve") {
		t.Errorf("state %q", s.State)
	}

	// a restart remembers
	m.Close()
	m2 := p.newManager(t, dir, nil)
	if n, wait := m2.holdOff(name, time.Now()); n != 2 || wait <= 0 {
		t.Errorf("after restart: %d failures, hold-off %s", n, wait)
	}
	m2.SetNames(list)
	time.Sleep(1500 * time.Millisecond)
	if n := p.Orders(name); n != n2 {
		t.Errorf("the restarted Manager sent an order (%d -> %d)", n2, n)
	}
}

// TestACMEUnlistedWhileIssuing: a name unlisted while its order is in
// flight is not left in the cache when the order completes (certmagic
// caches the certificate after SetNames emptied the cache of that name).
func TestACMEUnlistedWhileIssuing(t *testing.T) {
	p := startPebble(t, 0)
	m := p.newManager(t, tempDir(t), func(c *Config) { c.noTLSALPN01 = true })
	a, b := "a."+testDomain, "b."+testDomain
	if errs := m.SetNames(map[string]Policy{a: {Mode: Auto, Tenant: "t1"}, b: {Mode: Auto, Tenant: "t1"}}); len(errs) > 0 {
		t.Fatal(errs)
	}
	waitValid(t, m, a)
	waitValid(t, m, b)
	// The window of the race: the table no longer lists a, SetNames has
	// already emptied the cache of it, and certmagic caches the order's
	// result (it emits cached_managed_cert right after).
	nt := &table{names: map[string]entry{b: m.tbl.Load().names[b]}, fileHashes: map[string]bool{}}
	m.tbl.Store(nt)
	if len(m.cache.AllMatchingCertificates(a)) == 0 {
		t.Fatal("test setup: a is not cached")
	}
	m.onEvent(context.Background(), "cached_managed_cert", map[string]any{"sans": []string{a}})
	m.onEvent(context.Background(), "cached_managed_cert", map[string]any{"sans": []string{b}})
	if n := len(m.cache.AllMatchingCertificates(a)); n != 0 {
		t.Errorf("%d certificates for the unlisted %s still cached", n, a)
	}
	if n := len(m.cache.AllMatchingCertificates(b)); n != 1 {
		t.Errorf("%d certificates for the listed %s cached, want 1", n, b)
	}
}
