package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

func TestPublic(t *testing.T) {
	for name, want := range map[string]bool{
		"example.org.mx":        true,
		"shop.ehecoatl.dev":     true,
		"a.b.c.example-app.net": true,
		"*.ehecoatl.dev":        true,
		"Shop.Ehecoatl.Dev.":    true,
		"localhost":             false,
		"app.localhost":         false,
		"app.test":              false,
		"test":                  false,
		"app.internal":          false,
		"app.example":           false,
		"app.invalid":           false,
		"printer.local":         false,
		"nas.home.arpa":         false,
		"x.alt":                 false,
		"x.onion":               false,
		"www.example.com":       false,
		"example.net":           false,
		"intranet":              false,
		"co.uk":                 false,
		"com":                   false,
		"127.0.0.1":             false,
		"203.0.113.7":           false,
		"::1":                   false,
		"[2001:db8::1]":         false,
		"":                      false,
		"a..b.com":              false,
	} {
		if got := Public(name); got != want {
			t.Errorf("Public(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestTLSConfig(t *testing.T) {
	m := newOfflineManager(t, nil)
	c := m.TLSConfig()
	if c.MinVersion != tls.VersionTLS12 || c.GetCertificate == nil {
		t.Errorf("MinVersion %x, GetCertificate %v", c.MinVersion, c.GetCertificate != nil)
	}
	if !slices.Equal(c.NextProtos, []string{"h2", "http/1.1", "acme-tls/1"}) {
		t.Errorf("NextProtos %v", c.NextProtos)
	}
	if !slices.Equal(c.CurvePreferences, []tls.CurveID{tls.X25519, tls.CurveP256}) {
		t.Errorf("curves %v", c.CurvePreferences)
	}
	for _, id := range c.CipherSuites {
		n := tls.CipherSuiteName(id)
		if !strings.HasPrefix(n, "TLS_ECDHE_") || !(strings.Contains(n, "_GCM_") || strings.Contains(n, "CHACHA20")) {
			t.Errorf("cipher suite %s", n)
		}
	}
}

// newOfflineManager is a Manager whose CA is unreachable: for everything
// that must not need one.
func newOfflineManager(t *testing.T, tweak func(*Config)) *Manager {
	t.Helper()
	cfg := Config{StorageDir: tempDir(t), CA: "https://127.0.0.1:1/directory", Logger: testLogger(t)}
	if tweak != nil {
		tweak(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// selfSigned writes a self-signed ECDSA P-256 certificate for names and its
// key into dir, as base.crt and base.key.
func selfSigned(t *testing.T, dir, base string, names ...string) (certFile, keyFile string, serial *big.Int) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: names[0]},
		DNSNames:              names,
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, base+".crt"), filepath.Join(dir, base+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, serial
}

func hello(name string) *tls.ClientHelloInfo { return &tls.ClientHelloInfo{ServerName: name} }

func served(t *testing.T, m *Manager, name string) *tls.Certificate {
	t.Helper()
	c, err := m.GetCertificate(hello(name))
	if err != nil {
		t.Fatalf("GetCertificate(%s): %v", name, err)
	}
	return c
}

// TestFiles: operators' certificates, exact and wildcard, what is refused,
// reload on change, unlisting.
func TestFiles(t *testing.T) {
	m := newOfflineManager(t, nil)
	files := t.TempDir()
	shopCrt, shopKey, shopSerial := selfSigned(t, files, "shop", "shop.test")
	wildCrt, wildKey, wildSerial := selfSigned(t, files, "wild", "*.wild.test")

	names := map[string]Policy{
		"shop.test":     {Mode: Files, Tenant: "t1", CertFile: shopCrt, KeyFile: shopKey},
		"*.wild.test":   {Mode: Files, Tenant: "t2", CertFile: wildCrt, KeyFile: wildKey},
		"off.wild.test": {Mode: Off, Tenant: "t3"},
		"bad.test":      {Mode: Files, Tenant: "t1", CertFile: filepath.Join(files, "missing.crt"), KeyFile: shopKey},
		"other.test":    {Mode: Files, Tenant: "t1", CertFile: shopCrt, KeyFile: shopKey}, // does not cover it
		"mixed.test":    {Mode: Files, Tenant: "t1", CertFile: shopCrt, KeyFile: wildKey}, // key of another cert
		"relative.test": {Mode: Files, Tenant: "t1", CertFile: "shop.crt", KeyFile: "shop.key"},
		"*.auto.test":   {Mode: Auto, Tenant: "t1"},
	}
	errs := m.SetNames(names)
	var bad []string
	for _, err := range errs {
		var de *DomainError
		if !errors.As(err, &de) {
			t.Fatalf("%v is not a DomainError", err)
		}
		bad = append(bad, de.Domain)
	}
	slices.Sort(bad)
	if want := []string{"*.auto.test", "bad.test", "mixed.test", "other.test", "relative.test"}; !slices.Equal(bad, want) {
		t.Errorf("SetNames reported %v (%v), want %v", bad, errs, want)
	}

	if c := served(t, m, "shop.test"); c.Leaf.SerialNumber.Cmp(shopSerial) != 0 {
		t.Errorf("shop.test: serial %s", c.Leaf.SerialNumber)
	}
	for _, n := range []string{"a.wild.test", "B.Wild.Test."} {
		if c := served(t, m, n); c.Leaf.SerialNumber.Cmp(wildSerial) != 0 {
			t.Errorf("%s: serial %s", n, c.Leaf.SerialNumber)
		}
	}
	for _, n := range []string{"", "wild.test", "x.a.wild.test", "off.wild.test", "unlisted.test", "bad.test", "other.test", "x.auto.test"} {
		if c, err := m.GetCertificate(hello(n)); err == nil || !errors.Is(err, errRefused) {
			t.Errorf("GetCertificate(%q) = %v, %v; want refused", n, c, err)
		}
	}

	// a real handshake through TLSConfig
	ln, err := tls.Listen("tcp", "127.0.0.1:0", m.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	roots := x509.NewCertPool()
	pemBytes, _ := os.ReadFile(wildCrt)
	roots.AppendCertsFromPEM(pemBytes)
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: "www.wild.test", RootCAs: roots, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if st := conn.ConnectionState(); st.NegotiatedProtocol != "h2" || st.PeerCertificates[0].SerialNumber.Cmp(wildSerial) != 0 {
		t.Errorf("negotiated %q, serial %s", st.NegotiatedProtocol, st.PeerCertificates[0].SerialNumber)
	}
	conn.Close()
	if _, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: "nobody.test", InsecureSkipVerify: true}); err == nil {
		t.Errorf("handshake for an unlisted name succeeded")
	}

	st := map[string]DomainStatus{}
	for _, s := range m.Status() {
		st[s.Domain] = s
	}
	if s := st["shop.test"]; s.State != "valid" || s.Source != "files" || s.NotAfter.IsZero() || s.Tenant != "t1" || s.Mode != Files {
		t.Errorf("status %+v", s)
	}
	if s := st["*.wild.test"]; s.State != "valid" || s.Source != "files" {
		t.Errorf("status %+v", s)
	}
	if s := st["bad.test"]; !strings.HasPrefix(s.State, "failed: ") || s.Source != "" {
		t.Errorf("status %+v", s)
	}
	if s := st["off.wild.test"]; s.State != "none" {
		t.Errorf("status %+v", s)
	}
	if _, ok := st["*.auto.test"]; ok {
		t.Errorf("an invalid entry is listed")
	}

	// unchanged files are not reloaded
	delete(names, "*.auto.test")
	before := served(t, m, "shop.test")
	m.SetNames(names)
	if after := served(t, m, "shop.test"); after.Leaf != before.Leaf {
		t.Errorf("unchanged files were reloaded")
	}

	// a changed file is reloaded on the next SetNames; the old one leaves the cache
	_, _, newSerial := selfSigned(t, files, "shop", "shop.test")
	future := time.Now().Add(2 * time.Second)
	os.Chtimes(shopCrt, future, future)
	os.Chtimes(shopKey, future, future)
	if c := served(t, m, "shop.test"); c.Leaf.SerialNumber.Cmp(shopSerial) != 0 {
		t.Errorf("reloaded before SetNames")
	}
	m.SetNames(names)
	if c := served(t, m, "shop.test"); c.Leaf.SerialNumber.Cmp(newSerial) != 0 {
		t.Errorf("shop.test: serial %s after reload, want %s", c.Leaf.SerialNumber, newSerial)
	}
	if n := len(m.cache.AllMatchingCertificates("shop.test")); n != 1 {
		t.Errorf("%d certificates cached for shop.test", n)
	}
	// the files become unreadable: the domain has no certificate
	os.Chmod(shopKey, 0)
	os.Chtimes(shopKey, future.Add(time.Second), future.Add(time.Second))
	if os.Geteuid() != 0 { // root reads it anyway
		if errs := m.SetNames(names); !strings.Contains(errorsText(errs), "shop.test") {
			t.Errorf("unreadable key not reported: %v", errs)
		}
		if _, err := m.GetCertificate(hello("shop.test")); err == nil {
			t.Errorf("served with an unreadable key")
		}
	}

	// unlisting: refused, dropped from the cache
	m.SetNames(map[string]Policy{"off.wild.test": {Mode: Off}})
	if _, err := m.GetCertificate(hello("a.wild.test")); err == nil {
		t.Errorf("a.wild.test served after unlisting")
	}
	if n := len(m.cache.AllMatchingCertificates("a.wild.test")); n != 0 {
		t.Errorf("%d certificates still cached for a.wild.test", n)
	}
}

func errorsText(errs []error) string {
	var s []string
	for _, e := range errs {
		s = append(s, e.Error())
	}
	return strings.Join(s, "; ")
}

// TestAutoFilesIsolation: an Auto name without a certificate yet is refused
// even when another tenant's wildcard file covers it.
func TestAutoFilesIsolation(t *testing.T) {
	m := newOfflineManager(t, nil)
	crt, key, _ := selfSigned(t, t.TempDir(), "wild", "*.ehecoatl-offline.net")
	m.SetNames(map[string]Policy{
		"*.ehecoatl-offline.net":   {Mode: Files, Tenant: "t1", CertFile: crt, KeyFile: key},
		"app.ehecoatl-offline.net": {Mode: Auto, Tenant: "t2"},
	})
	if _, err := m.GetCertificate(hello("app.ehecoatl-offline.net")); !errors.Is(err, errRefused) {
		t.Errorf("Auto name without a certificate: %v, want refused", err)
	}
	served(t, m, "other.ehecoatl-offline.net")
	if s := m.Status(); s[0].Domain != "*.ehecoatl-offline.net" || s[0].State != "valid" ||
		!(s[1].State == "pending" || strings.HasPrefix(s[1].State, "failed: ")) {
		t.Errorf("status %+v", s)
	}
}

// TestCaps drives the issuance slots through the events certmagic emits.
func TestCaps(t *testing.T) {
	m := newOfflineManager(t, func(c *Config) { c.MaxIssuing, c.MaxPerTenant = 2, 1 })
	tenants := map[string]string{"a": "t1", "b": "t1", "c": "t2", "d": "t3"}
	nt := &table{names: map[string]entry{}, fileHashes: map[string]bool{}}
	for n, tn := range tenants {
		nt.names[n+".ehecoatl-offline.net"] = entry{Policy: Policy{Mode: Auto, Tenant: tn}, public: true}
	}
	m.tbl.Store(nt)
	ev := func(event, n string) error {
		return m.onEvent(context.Background(), event, map[string]any{"identifier": n + ".ehecoatl-offline.net"})
	}
	if err := ev("cert_obtaining", "a"); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 3)
	wait := func(n string) {
		go func() {
			if err := ev("cert_obtaining", n); err != nil {
				t.Error(err)
			}
			got <- n
		}()
	}
	expect := func(want string) {
		t.Helper()
		select {
		case n := <-got:
			if n != want {
				t.Fatalf("%s got a slot, want %q", n, want)
			}
		case <-time.After(200 * time.Millisecond):
			if want != "" {
				t.Fatalf("%s got no slot", want)
			}
		}
	}
	wait("b") // t1 is at its cap (a)
	expect("")
	if err := ev("cert_obtaining", "c"); err != nil { // t2: the second slot
		t.Fatal(err)
	}
	wait("d") // no slot left
	expect("")
	ev("cert_failed", "c") // frees a slot: d (t1 still has a)
	expect("d")
	expect("")
	ev("cert_obtained", "a") // frees t1
	expect("b")
	if err := ev("cert_obtaining", "b"); err != nil { // holding one already
		t.Error(err)
	}

	// a name not listed with tls: auto gets no order, and no retries
	err := m.onEvent(context.Background(), "cert_obtaining", map[string]any{"identifier": "gone.ehecoatl-offline.net"})
	var noRetry certmagic.ErrNoRetry
	if !errors.As(err, &noRetry) {
		t.Errorf("unlisted name: %v, want ErrNoRetry", err)
	}

	// two failed attempts within the hour: held off
	ev("cert_obtained", "b")
	ev("cert_obtained", "d")
	for range 2 {
		ev("cert_obtaining", "c")
		m.onEvent(context.Background(), "cert_failed", map[string]any{"identifier": "c.ehecoatl-offline.net", "error": errors.New("boom")})
	}
	if err := ev("cert_obtaining", "c"); err == nil || !strings.Contains(err.Error(), "next attempt allowed in") {
		t.Errorf("third attempt: %v", err)
	}
	if n, w := m.holdOff("c.ehecoatl-offline.net", time.Now().Add(time.Hour)); n != 0 || w != 0 {
		t.Errorf("an hour later: %d, %s", n, w)
	}
}

func TestHTTPChallengeNotOurs(t *testing.T) {
	m := newOfflineManager(t, nil)
	m.SetNames(map[string]Policy{"app.ehecoatl-offline.net": {Mode: Auto, Tenant: "t1"}})
	for _, c := range [][2]string{
		{"app.ehecoatl-offline.net", "/.well-known/acme-challenge/abc"},
		{"app.ehecoatl-offline.net:80", "/.well-known/acme-challenge/abc"},
		{"other.ehecoatl-offline.net", "/.well-known/acme-challenge/abc"},
		{"app.ehecoatl-offline.net", "/index.html"},
		{"app.ehecoatl-offline.net", "/.well-known/acme-challenge/"},
	} {
		if body, ok := m.HTTPChallenge(c[0], c[1]); ok {
			t.Errorf("HTTPChallenge(%q, %q) = %q", c[0], c[1], body)
		}
	}
}

func TestNew(t *testing.T) {
	if _, err := New(Config{StorageDir: "relative/dir"}); err == nil {
		t.Error("relative StorageDir accepted")
	}
	dir := tempDir(t)
	m, err := New(Config{StorageDir: dir, CA: "https://127.0.0.1:1/directory"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("StorageDir: %v, %v", fi.Mode(), err)
	}
	if m.cfg.MaxIssuing != 4 || m.cfg.MaxPerTenant != 2 {
		t.Errorf("defaults %d, %d", m.cfg.MaxIssuing, m.cfg.MaxPerTenant)
	}
	// certmagic's solvers must never listen themselves: their address is
	// the guard socket's
	if m.acme.ListenHost != "127.0.0.1" || m.acme.AltHTTPPort != m.guard.Addr().(*net.TCPAddr).Port || m.acme.AltTLSALPNPort != m.acme.AltHTTPPort {
		t.Errorf("solver address %s:%d/%d", m.acme.ListenHost, m.acme.AltHTTPPort, m.acme.AltTLSALPNPort)
	}
	if _, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(m.acme.AltHTTPPort))); err == nil {
		t.Error("the guard address is free")
	}
}

func TestZapBridge(t *testing.T) {
	var got []slog.Record
	h := recordHandler(func(r slog.Record) { got = append(got, r) })
	zl := newZapLogger(h).Named("certmagic").With(zap.String("ca", "x"))
	zl.Debug("dropped? no: debug is enabled")
	zl.Warn("hello", zap.String("identifier", "a.example.org"), zap.Error(errors.New("boom")))
	if len(got) != 2 {
		t.Fatalf("%d records", len(got))
	}
	r := got[1]
	attrs := map[string]string{}
	r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
	if r.Level != slog.LevelWarn || r.Message != "hello" || attrs["logger"] != "certmagic" ||
		attrs["identifier"] != "a.example.org" || attrs["error"] != "boom" {
		t.Errorf("record %v %q %v", r.Level, r.Message, attrs)
	}
}

type recordHandler func(slog.Record)

func (h recordHandler) Enabled(context.Context, slog.Level) bool      { return true }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error { h(r); return nil }
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler            { return h }
func (h recordHandler) WithGroup(string) slog.Handler                 { return h }

// TestSlotLease: an attempt that ends without cert_obtained or cert_failed
// (certmagic reports neither for local errors) gives its slot back after
// slotLease, not when certmagic's retry backoff next comes round.
func TestSlotLease(t *testing.T) {
	m := newOfflineManager(t, func(c *Config) { c.MaxIssuing = 1 })
	nt := &table{names: map[string]entry{}, fileHashes: map[string]bool{}}
	for n, tn := range map[string]string{"a": "t1", "b": "t2"} {
		nt.names[n+".ehecoatl-offline.net"] = entry{Policy: Policy{Mode: Auto, Tenant: tn}, public: true}
	}
	m.tbl.Store(nt)
	start := time.Now()
	ev := func(n string, at time.Duration) error {
		m.mu.Lock()
		m.now = func() time.Time { return start.Add(at) }
		m.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		return m.onEvent(ctx, "cert_obtaining", map[string]any{"identifier": n + ".ehecoatl-offline.net"})
	}
	if err := ev("a", 0); err != nil {
		t.Fatal(err)
	}
	// a's attempt ended on a local error: no event. Its retry comes later.
	if err := ev("b", slotLease-time.Minute); err == nil {
		t.Fatal("b got a slot while a's lease runs")
	}
	if err := ev("b", slotLease); err != nil {
		t.Fatalf("b after a's lease: %v", err)
	}
	if err := ev("a", slotLease+time.Minute); err == nil {
		t.Fatal("a got a second slot while b holds the only one")
	}
	m.release("b.ehecoatl-offline.net") // Close waits for held slots
}
