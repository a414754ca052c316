package tests

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/internal/pebbletest"
	"github.com/ehecoatl/ehecoatl/tests/install"
)

// TestHTTPSACME: the packaged router obtains certificates for tls: auto
// domains over ACME from a Pebble the test runs (internal/pebbletest, real
// validation: Pebble's VA connects to the router's socket, which answers
// HTTP-01 and TLS-ALPN-01 on the same port), serves them, keeps them
// across a restart without a new order, follows apply (a name added is
// issued, a name removed is refused) without a restart, and never asks
// the CA for a name no manifest lists. The first name is issued with only
// HTTP-01 offered, the second with only TLS-ALPN-01.
func TestHTTPSACME(t *testing.T) {
	h := boot(t)
	port, err := install.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ca := pebbletest.Start(t, pebbletest.Options{HTTPPort: port, TLSPort: port, Challenges: []string{pebbletest.HTTP01}})
	t.Cleanup(func() {
		if t.Failed() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, _, _ := h.m.Run(ctx, "journalctl", "-u", "ehecoatl-router", "--no-pager", "-o", "short-precise", "-n", "400")
			t.Logf("journalctl -u ehecoatl-router:\n%s", out)
		}
	})
	const (
		a = "a." + pebbletest.Domain
		b = "b." + pebbletest.Domain
		c = "c." + pebbletest.Domain // resolvable, in no manifest
	)
	h.sh(fmt.Sprintf(`set -e
mkdir -p /run/systemd/system/ehecoatl-router.socket.d /run/systemd/system/ehecoatl-router.service.d /run/ehecoatl-test /srv/m
printf '[Socket]\nListenStream=\nListenStream=127.0.0.1:%d\n' > /run/systemd/system/ehecoatl-router.socket.d/test.conf
cat > /run/ehecoatl-test/pebble-roots.pem <<'EOF'
%sEOF
chmod 0644 /run/ehecoatl-test/pebble-roots.pem
# In the package's file, as an operator sets them: its empty values would
# override a unit's Environment= (EnvironmentFile= comes after).
cat >> /etc/default/ehecoatl-router <<'EOF'
EHECOATL_ACME_CA=%s
EHECOATL_ACME_EMAIL=ops@%s
EHECOATL_ACME_CA_ROOTS=/run/ehecoatl-test/pebble-roots.pem
EOF
systemctl daemon-reload
systemctl start ehecoatl-router.socket
systemctl try-restart ehecoatl-router.service
cp -r /srv/testdata/https_acme/. /srv/m/`, port, ca.RootsPEM, ca.Directory, pebbletest.Domain))

	r := newTLSClient(port, ca.IssuerRoots)
	handshake := r.handshake
	// issued polls handshake until it succeeds (up to 60 s).
	issued := func(t *testing.T, name string) *x509.Certificate {
		t.Helper()
		start := time.Now()
		var err error
		for time.Since(start) < 60*time.Second {
			var leaf *x509.Certificate
			if leaf, err = handshake(name); err == nil {
				t.Logf("%s: served %s after %s (serial %x, orders %d)", name, leaf.DNSNames, time.Since(start).Round(time.Millisecond), leaf.SerialNumber, ca.Orders(name))
				return leaf
			}
			time.Sleep(250 * time.Millisecond)
		}
		t.Fatalf("%s: no certificate after 60 s: %v", name, err)
		return nil
	}
	get := r.get

	start := time.Now()
	h.run("ehecoatl", "apply", "/srv/m")
	t.Logf("apply: %s", time.Since(start).Round(time.Millisecond))
	leafA := issued(t, a)
	t.Logf("%s issued %s after apply began", a, time.Since(start).Round(time.Millisecond))
	if len(leafA.DNSNames) != 1 || leafA.DNSNames[0] != a {
		t.Errorf("%s: certificate for %v", a, leafA.DNSNames)
	}
	if n1, n2 := ca.Validations(pebbletest.HTTP01), ca.Validations(pebbletest.TLSALPN01); n1 == 0 || n2 != 0 {
		t.Errorf("validations asked: HTTP-01 %d, TLS-ALPN-01 %d; want >0 and 0 (only HTTP-01 offered)", n1, n2)
	}
	if n := ca.Orders(a); n != 1 {
		t.Errorf("orders for %s: %d, want 1", a, n)
	}

	t.Run("https reaches the app", func(t *testing.T) {
		resp, f := get(t, "https://"+a+"/")
		if resp.StatusCode != 200 || f["forwarded_proto"] != "https" {
			t.Fatalf("%d %v", resp.StatusCode, f)
		}
		if resp.TLS == nil || resp.TLS.PeerCertificates[0].SerialNumber.Cmp(leafA.SerialNumber) != 0 {
			t.Errorf("TLS state %+v", resp.TLS)
		}
		// The issued keys live in the router's state directory, which no
		// app's root holds.
		if s, _ := f["list_router_state"].(string); !strings.Contains(s, "FileNotFoundError") {
			t.Errorf("list_router_state: %q, want FileNotFoundError", s)
		}
	})
	t.Run("plain http redirects", func(t *testing.T) {
		resp, _ := get(t, "http://"+a+"/x/y?q=1")
		if resp.StatusCode != 301 || resp.Header.Get("Location") != "https://"+a+"/x/y?q=1" {
			t.Errorf("%d Location=%q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("storage modes", func(t *testing.T) {
		h := h.on(t)
		out := h.sh(`stat -c '%a %U %n' /var/lib/ehecoatl-router
find /var/lib/ehecoatl-router/certs -type d -printf '%m %u %p\n'
find /var/lib/ehecoatl-router/certs -type f -name '*.key' -printf '%m %u %p\n'`)
		keys, ownKey := 0, false
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Fields(l)
			if len(f) != 3 {
				t.Fatalf("line %q", l)
			}
			mode, user, path := f[0], f[1], f[2]
			isKey := strings.HasSuffix(path, ".key")
			want := "700"
			if isKey {
				want = "600"
				keys++
				ownKey = ownKey || strings.HasSuffix(path, "/"+a+".key")
			}
			if mode != want || user != "ehecoatl-router" {
				t.Errorf("%s: mode %s owner %s, want %s ehecoatl-router", path, mode, user, want)
			}
		}
		if !ownKey || keys < 2 { // the account's and a's
			t.Errorf("no key file for %s (%d keys):\n%s", a, keys, out)
		}
	})
	t.Run("an unknown name is refused and never ordered", func(t *testing.T) {
		if _, err := handshake(c); err == nil {
			t.Errorf("TLS handshake for %s succeeded", c)
		}
		if n := ca.Orders(c); n != 0 {
			t.Errorf("orders for %s: %d", c, n)
		}
	})
	t.Run("a restart serves the stored certificate with no new order", func(t *testing.T) {
		h := h.on(t)
		pid := h.prop("ehecoatl-router.service", "MainPID")
		orders := ca.TotalOrders()
		start := time.Now()
		h.run("systemctl", "restart", "ehecoatl-router.service")
		leaf := issued(t, a)
		t.Logf("restart and handshake: %s", time.Since(start).Round(time.Millisecond))
		if leaf.SerialNumber.Cmp(leafA.SerialNumber) != 0 {
			t.Errorf("serial %x after the restart, was %x", leaf.SerialNumber, leafA.SerialNumber)
		}
		if got := h.prop("ehecoatl-router.service", "MainPID"); got == pid {
			t.Errorf("MainPID %s did not change", got)
		}
		time.Sleep(time.Second) // a background order would show by now
		if n := ca.TotalOrders(); n != orders {
			t.Errorf("orders %d -> %d across the restart", orders, n)
		}
	})
	t.Run("apply adds a name, issued without a restart", func(t *testing.T) {
		h := h.on(t)
		ca.SetChallenges(pebbletest.TLSALPN01)
		http01 := ca.Validations(pebbletest.HTTP01)
		pid := h.prop("ehecoatl-router.service", "MainPID")
		h.sh(fmt.Sprintf(`sed -i 's/domains: \[%s\]/domains: [%s, %s]/' /srv/m/tenants/acme.yaml`, a, a, b))
		start := time.Now()
		h.run("ehecoatl", "apply", "/srv/m")
		leaf := issued(t, b)
		t.Logf("%s issued %s after apply began", b, time.Since(start).Round(time.Millisecond))
		if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != b {
			t.Errorf("%s: certificate for %v", b, leaf.DNSNames)
		}
		if n1, n2 := ca.Validations(pebbletest.HTTP01)-http01, ca.Validations(pebbletest.TLSALPN01); n1 != 0 || n2 == 0 {
			t.Errorf("validations asked for %s: HTTP-01 %d, TLS-ALPN-01 %d; want 0 and >0 (only TLS-ALPN-01 offered)", b, n1, n2)
		}
		if resp, f := get(t, "https://"+b+"/"); resp.StatusCode != 200 || f["forwarded_proto"] != "https" {
			t.Errorf("https://%s/: %d %v", b, resp.StatusCode, f)
		}
		if got := h.prop("ehecoatl-router.service", "MainPID"); got != pid {
			t.Errorf("the router restarted (MainPID %s -> %s)", pid, got)
		}
		if n := ca.Orders(b); n != 1 {
			t.Errorf("orders for %s: %d, want 1", b, n)
		}
	})
	t.Run("apply removes a name", func(t *testing.T) {
		h := h.on(t)
		pid := h.prop("ehecoatl-router.service", "MainPID")
		h.sh(fmt.Sprintf(`sed -i 's/domains: \[%s, %s\]/domains: [%s]/' /srv/m/tenants/acme.yaml`, a, b, b))
		h.run("ehecoatl", "apply", "/srv/m")
		if _, err := handshake(a); err == nil {
			t.Errorf("%s is still served after it left the manifest", a)
		}
		if _, err := handshake(b); err != nil {
			t.Errorf("%s, which stayed: %v", b, err)
		}
		if got := h.prop("ehecoatl-router.service", "MainPID"); got != pid {
			t.Errorf("the router restarted (MainPID %s -> %s)", pid, got)
		}
	})
	if n := ca.Orders(c); n != 0 {
		t.Errorf("orders for %s: %d", c, n)
	}
	if n := ca.Orders(a); n != 1 {
		t.Errorf("orders for %s in all: %d, want 1", a, n)
	}
	t.Logf("validations asked: HTTP-01 %d, TLS-ALPN-01 %d; orders %d", ca.Validations(pebbletest.HTTP01), ca.Validations(pebbletest.TLSALPN01), ca.TotalOrders())
}
