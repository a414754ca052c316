package router

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/router/certs"
)

// fakeCerts plays the certificate engine: one self-signed certificate for
// the names it was given, a refusal for every other name, and one pending
// HTTP-01 challenge.
type fakeCerts struct {
	cert *tls.Certificate
	pool *x509.CertPool

	mu    sync.Mutex
	names map[string]certs.Policy
}

var _ Certificates = (*fakeCerts)(nil)

func newFakeCerts(t testing.TB, names ...string) *fakeCerts {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &fakeCerts{cert: &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool: pool}
}

func (f *fakeCerts) SetNames(names map[string]certs.Policy) []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.names = names
	return nil
}

func (f *fakeCerts) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1", "acme-tls/1"},
		GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			if _, ok := f.names[h.ServerName]; !ok {
				return nil, errors.New("no certificate for " + h.ServerName)
			}
			return f.cert, nil
		}}
}

func (f *fakeCerts) Status() []certs.DomainStatus { return nil }

func (f *fakeCerts) HTTPChallenge(host, path string) (string, bool) {
	if path == acmeChallengePrefix+"tok3n" && host == "new.example.com" {
		return "tok3n.keyauth", true
	}
	return "", false
}

// httpsFixture serves acme.example.com (tls: auto, hsts), shop.example.com
// (files), dev.acme.test (a name no public CA issues for) and
// plain.example.com (tls: off), all on one plain listener.
func httpsFixture(t *testing.T) (*fixture, *fakeCerts) {
	fc := newFakeCerts(t, "acme.example.com", "shop.example.com")
	site := app("acme", "site", "/", "acme.example.com", "dev.acme.test")
	site.TLS, site.HSTS = manifest.TLS{Mode: manifest.TLSAuto}, true
	shop := app("acme", "shop", "/", "shop.example.com")
	shop.TLS = manifest.TLS{Mode: manifest.TLSFiles, CertFile: "shop.pem", KeyFile: "shop.key"}
	plain := app("acme", "plain", "/", "plain.example.com")
	plain.TLS = manifest.TLS{Mode: manifest.TLSOff}
	f := newFixture(t, Config{Certs: fc}, mkSet(site, shop, plain))
	for _, name := range []string{"site", "shop", "plain"} {
		f.backend("acme", name, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, name+" proto="+r.Header.Get("X-Forwarded-Proto"))
		}))
	}
	return f, fc
}

func (f *fixture) tlsClient(pool *x509.CertPool) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:     func(context.Context, string, string) (net.Conn, error) { return net.Dial("tcp", f.addr) },
			TLSClientConfig: &tls.Config{RootCAs: pool},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestHTTPS(t *testing.T) {
	f, fc := httpsFixture(t)
	c := f.tlsClient(fc.pool)

	// The table's HTTPS names reached the engine: auto and files, not
	// the reserved name, not tls: off.
	if got := fc.names; len(got) != 2 || got["acme.example.com"].Mode != certs.Auto || got["shop.example.com"].Mode != certs.Files ||
		got["shop.example.com"].CertFile != "/etc/ehecoatl/certs/acme/shop.pem" {
		t.Errorf("names given to the engine: %+v", got)
	}

	for _, c0 := range []struct {
		name, url  string
		status     int
		body       string
		location   string
		hsts       bool
		hstsAbsent bool
	}{
		{name: "https", url: "https://acme.example.com/x", status: 200, body: "site proto=https", hsts: true},
		{name: "https files, no hsts", url: "https://shop.example.com/", status: 200, body: "shop proto=https", hstsAbsent: true},
		{name: "redirect keeps path and query", url: "http://acme.example.com/a/b?q=1&r", status: 301, location: "https://acme.example.com/a/b?q=1&r"},
		{name: "no hsts over plain http", url: "http://plain.example.com/", status: 200, body: "plain proto=http", hstsAbsent: true},
		{name: "reserved name stays plain", url: "http://dev.acme.test/", status: 200, body: "site proto=http", hstsAbsent: true},
		{name: "acme http-01 before routing", url: "http://new.example.com/.well-known/acme-challenge/tok3n", status: 200, body: "tok3n.keyauth"},
		{name: "other challenge paths are routed", url: "http://acme.example.com/.well-known/acme-challenge/other", status: 301, location: "https://acme.example.com/.well-known/acme-challenge/other"},
	} {
		t.Run(c0.name, func(t *testing.T) {
			resp, body := get(t, c, c0.url)
			if resp.StatusCode != c0.status || c0.body != "" && body != c0.body || resp.Header.Get("Location") != c0.location {
				t.Errorf("%d %q Location=%q; want %d %q %q", resp.StatusCode, body, resp.Header.Get("Location"), c0.status, c0.body, c0.location)
			}
			hsts := resp.Header.Get("Strict-Transport-Security")
			if c0.hsts && hsts != "max-age=31536000" || c0.hstsAbsent && hsts != "" {
				t.Errorf("Strict-Transport-Security %q", hsts)
			}
		})
	}

	// A name no manifest serves over HTTPS gets no certificate, not
	// another tenant's: the handshake fails.
	for _, name := range []string{"plain.example.com", "unknown.example.com", "dev.acme.test"} {
		conn, err := tls.Dial("tcp", f.addr, &tls.Config{ServerName: name, InsecureSkipVerify: true})
		if err == nil {
			conn.Close()
			t.Errorf("TLS handshake for %s succeeded", name)
		}
	}
	// ALPN: h2 first, then HTTP/1.1 (and acme-tls/1 for challenges).
	conn, err := tls.Dial("tcp", f.addr, &tls.Config{ServerName: "acme.example.com", RootCAs: fc.pool, NextProtos: []string{"http/1.1", "h2"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Errorf("ALPN chose %q", p)
	}
	if v := conn.ConnectionState().Version; v < tls.VersionTLS12 {
		t.Errorf("TLS version %x", v)
	}
	conn.Close()
	// TLS 1.1 is refused.
	if conn, err := tls.Dial("tcp", f.addr, &tls.Config{ServerName: "acme.example.com", RootCAs: fc.pool, MaxVersion: tls.VersionTLS11}); err == nil {
		conn.Close()
		t.Errorf("TLS 1.1 accepted")
	}
}

// Without a certificate engine, a TLS handshake is refused at once, and
// plain HTTP still works on the same socket.
func TestHTTPSWithoutCerts(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("acme", "web", "/", "acme.example.com")))
	f.backend("acme", "web", 0, echoApp())
	start := time.Now()
	conn, err := tls.Dial("tcp", f.addr, &tls.Config{ServerName: "acme.example.com", InsecureSkipVerify: true})
	if err == nil {
		conn.Close()
		t.Fatal("handshake succeeded without certificates")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("refused after %s", d)
	}
	r := f.dialRaw(t)
	r.send("GET / HTTP/1.1\r\nHost: acme.example.com\r\n\r\n")
	if resp, _ := r.response("GET"); resp.StatusCode != 200 {
		t.Errorf("plain HTTP: %d", resp.StatusCode)
	}
}

// Behind a trusted proxy that ends TLS, X-Forwarded-Proto: https means the
// client is on HTTPS already: no redirect (it would loop), and HSTS. From
// any other peer the header changes nothing.
func TestHTTPSBehindTrustedProxy(t *testing.T) {
	for _, c := range []struct {
		name    string
		trusted string
		status  int
	}{{"trusted", "127.0.0.0/8", 200}, {"untrusted", "10.0.0.0/8", 301}} {
		t.Run(c.name, func(t *testing.T) {
			fc := newFakeCerts(t, "acme.example.com")
			site := app("acme", "site", "/", "acme.example.com")
			site.TLS, site.HSTS = manifest.TLS{Mode: manifest.TLSAuto}, true
			f := newFixture(t, Config{Certs: fc, TrustedProxies: []netip.Prefix{netip.MustParsePrefix(c.trusted)}}, mkSet(site))
			f.backend("acme", "site", 0, echoApp())
			r := f.dialRaw(t)
			r.send("GET /x HTTP/1.1\r\nHost: acme.example.com\r\nX-Forwarded-Proto: https\r\n\r\n")
			resp, _ := r.response("GET")
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
			}
			if hsts := resp.Header.Get("Strict-Transport-Security"); (c.status == 200) != (hsts != "") {
				t.Errorf("Strict-Transport-Security %q", hsts)
			}
		})
	}
}
