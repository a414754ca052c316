package router

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/manifest"
)

// forwardedHeads sends head on c and returns the X-Forwarded-* and
// Forwarded fields the app (echoHeaders) received.
func forwardedHeads(t *testing.T, c net.Conn, head string) http.Header {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, head)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	defer resp.Body.Close()
	var got struct{ Header http.Header }
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatalf("status %d: %v", resp.StatusCode, err)
	}
	h := http.Header{}
	for k, v := range got.Header {
		if strings.HasPrefix(k, "X-Forwarded-") || k == "Forwarded" {
			h[k] = v
		}
	}
	return h
}

// Issue 12 point 6: X-Forwarded-* (and Forwarded) from a peer in
// TrustedProxies are kept, X-Forwarded-For appended to; from any other
// peer they are replaced, so a client cannot forge its address, scheme or
// host for the app. The fixture's clients are 127.0.0.1.
func TestForwardedTrust(t *testing.T) {
	const claims = "X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: shop.test\r\n" +
		"Forwarded: for=203.0.113.9;proto=https\r\nX-Forwarded-For: 198.51.100.7\r\n"
	own := http.Header{
		"X-Forwarded-For":   {"127.0.0.1"},
		"X-Forwarded-Proto": {"http"},
		"X-Forwarded-Host":  {"acme.test"},
	}
	for _, c := range []struct {
		name    string
		trusted string
		claims  bool
		want    http.Header
	}{
		{"untrusted forged", "10.0.0.0/8", true, own},
		{"untrusted none", "10.0.0.0/8", false, own},
		{"nobody trusted", "", true, own},
		{"trusted kept", "127.0.0.0/8", true, http.Header{
			"X-Forwarded-For":   {"203.0.113.9, 198.51.100.7, 127.0.0.1"},
			"X-Forwarded-Proto": {"https"},
			"X-Forwarded-Host":  {"shop.test"},
			"Forwarded":         {"for=203.0.113.9;proto=https"},
		}},
		{"trusted none", "10.0.0.0/8 127.0.0.1", false, own},
	} {
		t.Run(c.name, func(t *testing.T) {
			tp, err := ParseTrustedProxies(c.trusted)
			if err != nil {
				t.Fatal(err)
			}
			f := newFixture(t, Config{TrustedProxies: tp}, mkSet(app("acme", "web", "/", "acme.test")))
			f.backend("acme", "web", 0, echoHeaders())
			head := "GET / HTTP/1.1\r\nHost: acme.test\r\n"
			if c.claims {
				head += claims
			}
			r := f.dialRaw(t)
			// Twice on one connection: the decision is per connection,
			// the fields per request.
			for i := 0; i < 2; i++ {
				if got := forwardedHeads(t, r.c, head+"\r\n"); !equalHeader(got, c.want) {
					t.Errorf("request %d: the app got %v, want %v", i, got, c.want)
				}
			}
		})
	}
}

// Over TLS an untrusted client's X-Forwarded-Proto: http is replaced by
// https; a trusted proxy's is kept (it knows the scheme its client used).
func TestForwardedTrustTLS(t *testing.T) {
	for _, c := range []struct {
		trusted string
		want    http.Header
	}{
		{"10.0.0.0/8", http.Header{
			"X-Forwarded-For": {"127.0.0.1"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"acme.example.com"}}},
		{"127.0.0.1/32", http.Header{
			"X-Forwarded-For": {"203.0.113.9, 127.0.0.1"}, "X-Forwarded-Proto": {"http"}, "X-Forwarded-Host": {"acme.example.com"}}},
	} {
		t.Run(c.trusted, func(t *testing.T) {
			fc := newFakeCerts(t, "acme.example.com")
			site := app("acme", "site", "/", "acme.example.com")
			site.TLS = manifest.TLS{Mode: manifest.TLSAuto}
			tp, _ := ParseTrustedProxies(c.trusted)
			f := newFixture(t, Config{Certs: fc, TrustedProxies: tp}, mkSet(site))
			f.backend("acme", "site", 0, echoHeaders())
			conn, err := tls.Dial("tcp", f.addr, &tls.Config{RootCAs: fc.pool, ServerName: "acme.example.com"})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			got := forwardedHeads(t, conn, "GET / HTTP/1.1\r\nHost: acme.example.com\r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: http\r\n\r\n")
			if !equalHeader(got, c.want) {
				t.Errorf("the app got %v, want %v", got, c.want)
			}
		})
	}
}

func equalHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestTrusts(t *testing.T) {
	tp, err := ParseTrustedProxies("10.0.0.0/8, 192.0.2.7 2001:db8::/32,::ffff:198.51.100.0/120")
	if err != nil {
		t.Fatal(err)
	}
	rt := &Router{cfg: Config{TrustedProxies: tp}.withDefaults()}
	for ip, want := range map[string]bool{
		"10.1.2.3":            true,
		"::ffff:10.1.2.3":     true, // IPv4-mapped: the IPv4 address
		"192.0.2.7":           true,
		"192.0.2.8":           false,
		"2001:db8::1":         true,
		"2001:db8::1%eth0":    true,
		"2001:db9::1":         false,
		"198.51.100.200":      true, // the mapped prefix as IPv4
		"127.0.0.1":           false,
		"":                    false,
		"not-an-address":      false,
		"::ffff:192.0.2.7:80": false,
	} {
		if got := rt.trusts(ip); got != want {
			t.Errorf("trusts(%q) = %v, want %v", ip, got, want)
		}
	}
	if (&Router{cfg: Config{}.withDefaults()}).trusts("127.0.0.1") {
		t.Error("an empty TrustedProxies trusts 127.0.0.1")
	}
}

func TestParseTrustedProxies(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" , ,\t", nil},
		{"10.0.0.0/8", []string{"10.0.0.0/8"}},
		{"10.0.0.0/8,192.168.1.1 ::1\t2001:db8::/48,\n172.16.0.0/12", []string{"10.0.0.0/8", "192.168.1.1/32", "::1/128", "2001:db8::/48", "172.16.0.0/12"}},
		{"10.1.2.3/8", []string{"10.1.2.3/8"}}, // masked by the router (withDefaults)
	} {
		got, err := ParseTrustedProxies(c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		if !slices.Equal(s, c.want) {
			t.Errorf("%q: %q, want %q", c.in, s, c.want)
		}
	}
	for _, in := range []string{"10.0.0.0/33", "example.com", "10.0.0.0/8,10.0.0", "fe80::1%eth0", "10.0.0.0/", "/8"} {
		if _, err := ParseTrustedProxies(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
	_, err := ParseTrustedProxies("10.0.0.0/8, 300.1.1.1")
	if err == nil || !strings.Contains(err.Error(), `"300.1.1.1"`) {
		t.Errorf("the error does not name the bad entry: %v", err)
	}
	// withDefaults masks, maps IPv4-mapped prefixes to IPv4 and leaves
	// the caller's slice alone.
	in := []netip.Prefix{netip.MustParsePrefix("10.1.2.3/8"), netip.MustParsePrefix("::ffff:10.0.0.0/104"), {}}
	cfg := Config{TrustedProxies: in}.withDefaults()
	if got := cfg.TrustedProxies; len(got) != 2 || got[0].String() != "10.0.0.0/8" || got[1].String() != "10.0.0.0/8" {
		t.Errorf("withDefaults: %v", got)
	}
	if in[0].String() != "10.1.2.3/8" {
		t.Errorf("the caller's slice was changed: %v", in)
	}
}
