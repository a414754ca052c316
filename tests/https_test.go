package tests

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/tests/install"
)

// testCA is a certificate authority of the test's own, and a leaf it
// signed for names.
func testCA(t *testing.T, names ...string) (pool *x509.CertPool, certPEM, keyPEM string) {
	c := newTestCA(t, names...)
	return c.pool, c.certPEM, c.keyPEM
}

type testCerts struct {
	pool                   *x509.CertPool
	caPEM, certPEM, keyPEM string
}

func newTestCA(t *testing.T, names ...string) testCerts {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ehecoatl test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ = x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return testCerts{pool: pool,
		caPEM:   string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})),
		certPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		keyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))}
}

// tlsClient talks to a guest's router on 127.0.0.1:port, whatever the
// URL's host, trusting roots; it does not follow redirects.
type tlsClient struct {
	addr   string
	roots  *x509.CertPool
	client *http.Client
}

func newTLSClient(port int, roots *x509.CertPool) *tlsClient {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	return &tlsClient{addr: addr, roots: roots, client: &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:     func(context.Context, string, string) (net.Conn, error) { return net.Dial("tcp", addr) },
			TLSClientConfig: &tls.Config{RootCAs: roots},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// get fetches url; the body is the probe's JSON (tests/testdata/probe.py).
func (c *tlsClient) get(t *testing.T, url string) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := c.client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var f map[string]any
	json.Unmarshal(b, &f)
	return resp, f
}

// handshake verifies the certificate served for name against the roots
// and returns its leaf.
func (c *tlsClient) handshake(name string) (*x509.Certificate, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", c.addr,
		&tls.Config{ServerName: name, RootCAs: c.roots, NextProtos: []string{"http/1.1"}})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// TestHTTPSFiles: the packaged router serves HTTPS with the operator's
// certificate on the same socket as plain HTTP, redirects plain HTTP,
// refuses names it has no certificate for, follows apply without a
// restart, and no app can read the key (docs/OPERATIONS.md "HTTPS").
func TestHTTPSFiles(t *testing.T) {
	h := boot(t)
	port, err := install.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	pool, certPEM, keyPEM := testCA(t, "site.example.com", "www.site.example.com")
	h.sh(fmt.Sprintf(`set -e
mkdir -p /run/systemd/system/ehecoatl-router.socket.d /srv/m
printf '[Socket]\nListenStream=\nListenStream=127.0.0.1:%d\n' > /run/systemd/system/ehecoatl-router.socket.d/test.conf
systemctl daemon-reload
systemctl start ehecoatl-router.socket
cp -r /srv/testdata/https/. /srv/m/
test "$(stat -c '%%a %%U %%G' /etc/ehecoatl/certs)" = "750 root ehecoatl-router"
install -d -m 0750 -g ehecoatl-router /etc/ehecoatl/certs/probe
cat > /etc/ehecoatl/certs/probe/site.pem <<'EOF'
%sEOF
cat > /etc/ehecoatl/certs/probe/site.key <<'EOF'
%sEOF
chgrp ehecoatl-router /etc/ehecoatl/certs/probe/site.*
chmod 0640 /etc/ehecoatl/certs/probe/site.*`, port, certPEM, keyPEM))
	h.run("ehecoatl", "apply", "/srv/m")
	r := newTLSClient(port, pool)
	get, handshake := r.get, func(name string) error { _, err := r.handshake(name); return err }

	t.Run("https with the operator's certificate", func(t *testing.T) {
		resp, f := get(t, "https://site.example.com/")
		if resp.StatusCode != 200 || f["forwarded_proto"] != "https" {
			t.Fatalf("%d %v", resp.StatusCode, f)
		}
		if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
			t.Errorf("Strict-Transport-Security %q", got)
		}
		if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
			t.Errorf("TLS state %+v", resp.TLS)
		}
		// The app cannot read the key, nor see the certificates at all.
		for _, k := range []string{"read_cert_key", "list_certs"} {
			if s, _ := f[k].(string); !strings.Contains(s, "FileNotFoundError") {
				t.Errorf("%s: %q, want FileNotFoundError", k, s)
			}
		}
	})
	t.Run("status and routes show the certificate", func(t *testing.T) {
		h := h.on(t)
		var routes string
		h.waitFor("the router's record of its certificates", 15*time.Second, func() bool {
			routes = h.run("ehecoatl", "routes")
			return strings.Contains(routes, "files, valid 0d") || strings.Contains(routes, "files, valid 1d")
		})
		for _, want := range []string{"site.example.com", "plain.example.com"} {
			if !strings.Contains(routes, want) {
				t.Errorf("routes lacks %s:\n%s", want, routes)
			}
		}
		var plainLine string
		for _, l := range strings.Split(routes, "\n") {
			if strings.HasPrefix(l, "plain.example.com") {
				plainLine = l
			}
		}
		if !strings.Contains(plainLine, " plain ") {
			t.Errorf("plain.example.com is not shown as plain HTTP: %q", plainLine)
		}
		rows := h.statusJSON("probe")
		for _, r := range rows {
			if r["app"] != "web" {
				continue
			}
			certs, _ := r["certificates"].([]any)
			if len(certs) != 1 || certs[0].(map[string]any)["state"] != "valid" || certs[0].(map[string]any)["mode"] != "files" {
				t.Errorf("status --json certificates of probe/web: %v", r["certificates"])
			}
		}
	})
	t.Run("plain http redirects, tls: off stays plain", func(t *testing.T) {
		resp, _ := get(t, "http://site.example.com/a/b?q=1")
		if resp.StatusCode != 301 || resp.Header.Get("Location") != "https://site.example.com/a/b?q=1" {
			t.Errorf("%d Location=%q", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp, f := get(t, "http://plain.example.com/")
		if resp.StatusCode != 200 || f["forwarded_proto"] != "http" || resp.Header.Get("Strict-Transport-Security") != "" {
			t.Errorf("plain: %d %v %v", resp.StatusCode, f["forwarded_proto"], resp.Header)
		}
	})
	t.Run("names without a certificate are refused", func(t *testing.T) {
		for _, name := range []string{"plain.example.com", "unknown.example.com", "www.site.example.com"} {
			if err := handshake(name); err == nil {
				t.Errorf("TLS handshake for %s succeeded", name)
			}
		}
	})
	t.Run("apply adds and removes a name without a router restart", func(t *testing.T) {
		pid := h.prop("ehecoatl-router.service", "MainPID")
		h.sh(`sed -i 's/domains: \[site.example.com\]/domains: [site.example.com, www.site.example.com]/' /srv/m/tenants/probe.yaml`)
		h.run("ehecoatl", "apply", "/srv/m")
		if err := handshake("www.site.example.com"); err != nil {
			t.Errorf("added name: %v", err)
		}
		h.sh(`sed -i 's/domains: \[site.example.com, www.site.example.com\]/domains: [www.site.example.com]/' /srv/m/tenants/probe.yaml`)
		h.run("ehecoatl", "apply", "/srv/m")
		if err := handshake("site.example.com"); err == nil {
			t.Errorf("a removed name is still served over HTTPS")
		}
		if err := handshake("www.site.example.com"); err != nil {
			t.Errorf("the name that stayed: %v", err)
		}
		if got := h.prop("ehecoatl-router.service", "MainPID"); got != pid {
			t.Errorf("the router restarted (MainPID %s -> %s)", pid, got)
		}
	})
	t.Run("a restart keeps serving", func(t *testing.T) {
		h.run("systemctl", "restart", "ehecoatl-router.service")
		if err := handshake("www.site.example.com"); err != nil {
			t.Errorf("after a restart: %v", err)
		}
	})
}
