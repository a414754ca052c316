// Package pebbletest runs Let's Encrypt's test CA, Pebble
// (github.com/letsencrypt/pebble/v2, MPL-2.0), inside a test process, wired
// as its cmd/pebble/main.go does, with real validation: Pebble's VA
// resolves names through a tiny DNS server of the package (every name
// under Domain is 127.0.0.1, but those starting with "fail", which do not
// resolve) and connects to 127.0.0.1 on the ports the test gives
// (Options.HTTPPort for HTTP-01, Options.TLSPort for TLS-ALPN-01).
//
// It is for tests only: nothing but _test.go files imports it, so Pebble is
// a dependency of the tests (router/certs, tests/) and never linked into a
// binary of the project. Keep it that way.
//
// On top of Pebble it counts new orders per identifier and the challenges
// the client asked to validate per type, can offer only some challenge
// types (SetChallenges, to force HTTP-01 or TLS-ALPN-01), and can play a
// CA that is down (SetDown).
package pebbletest

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/core"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
)

// Domain is the zone the DNS server resolves to 127.0.0.1 (names starting
// with "fail" resolve to nothing). It is not a reserved name, so it passes
// for a public one (router/certs.Public); nothing outside the test process
// resolves it through this server.
const Domain = "ehecoatl-pebble.net"

// Challenge types, as ACME spells them.
const (
	HTTP01    = "http-01"
	TLSALPN01 = "tls-alpn-01"
)

// Options configures Start.
type Options struct {
	// HTTPPort and TLSPort are the ports on 127.0.0.1 Pebble's VA connects
	// to for HTTP-01 and TLS-ALPN-01 (the same port when one listener
	// serves both). Required.
	HTTPPort, TLSPort int

	// Validity of the certificates Pebble issues; 0: Pebble's default (90
	// days).
	Validity time.Duration

	// Challenges are the challenge types offered in new authorizations; nil:
	// all of Pebble's (see SetChallenges).
	Challenges []string

	// Log receives Pebble's log as it is written, besides CA.Log; nil:
	// only CA.Log (printed through t.Log when the test failed).
	Log io.Writer
}

// CA is a running Pebble. It stops at the end of the test.
type CA struct {
	// Directory is the ACME directory URL (https://127.0.0.1:PORT/dir).
	Directory string

	// RootsPEM is the PEM certificate to trust for the TLS of the directory
	// itself (what a client's "CA roots" setting takes); Roots holds it.
	RootsPEM []byte
	Roots    *x509.CertPool

	// IssuerRootPEM is the root of the certificates Pebble issues, for
	// clients verifying the certificates a server got; IssuerRoots holds it.
	IssuerRootPEM []byte
	IssuerRoots   *x509.CertPool

	store *db.MemoryStore
	logw  *lockedBuffer

	mu          sync.Mutex
	orders      map[string]int // new-order requests per identifier
	validations map[string]int // challenge validations asked per type
	challenges  []string       // offered types; nil: all
	down        bool
	downCalls   int
}

// Start starts Pebble and its DNS server. It sets PEBBLE_VA_NOSLEEP=1 and
// PEBBLE_WFE_NONCEREJECT=0 in the environment for the test (t.Setenv: the
// test must not be parallel).
func Start(t testing.TB, o Options) *CA {
	t.Helper()
	if o.HTTPPort <= 0 || o.TLSPort <= 0 {
		t.Fatalf("pebbletest: HTTPPort %d, TLSPort %d: both are required", o.HTTPPort, o.TLSPort)
	}
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	c := &CA{
		logw:        &lockedBuffer{},
		orders:      map[string]int{},
		validations: map[string]int{},
		challenges:  slices.Clone(o.Challenges),
	}

	// DNS (Pebble's custom resolver speaks DNS over TCP)
	dnsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dnsSrv := &dns.Server{Listener: dnsLn, Handler: dns.HandlerFunc(answerDNS)}
	go dnsSrv.ActivateAndServe()
	t.Cleanup(func() { dnsSrv.Shutdown() })

	// Pebble, as cmd/pebble/main.go wires it
	var logw io.Writer = c.logw
	if o.Log != nil {
		logw = io.MultiWriter(c.logw, o.Log)
	}
	plog := log.New(logw, "Pebble ", log.LstdFlags|log.Lmicroseconds)
	c.store = db.NewMemoryStore()
	profiles := map[string]ca.Profile{"default": {Description: "test", ValidityPeriod: uint64(o.Validity / time.Second)}}
	caImpl := ca.New(plog, c.store, "", "ecdsa", 0, 1, profiles)
	vaImpl := va.New(plog, o.HTTPPort, o.TLSPort, false, dnsLn.Addr().String(), c.store)
	wfeImpl := wfe.New(plog, c.store, vaImpl, caImpl, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	srv := httptest.NewTLSServer(c.wrap(wfeImpl.Handler()))
	srv.Config.ErrorLog = log.New(c.logw, "Pebble http: ", log.LstdFlags)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Pebble's log:\n%s", c.Log())
		}
	})

	c.Directory = srv.URL + wfe.DirectoryPath
	c.RootsPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	c.Roots = x509.NewCertPool()
	c.Roots.AddCert(srv.Certificate())
	root := caImpl.GetRootCert(0).Cert
	c.IssuerRootPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw})
	c.IssuerRoots = x509.NewCertPool()
	c.IssuerRoots.AddCert(root)
	return c
}

// answerDNS resolves every name of Domain but those starting with "fail"
// to 127.0.0.1 (A only).
func answerDNS(w dns.ResponseWriter, req *dns.Msg) {
	resp := new(dns.Msg)
	resp.SetReply(req)
	for _, q := range req.Question {
		name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
		if !strings.HasSuffix(name, "."+Domain) || strings.HasPrefix(name, "fail") {
			resp.Rcode = dns.RcodeNameError
			continue
		}
		if q.Qtype == dns.TypeA {
			resp.Answer = append(resp.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1},
				A:   net.IPv4(127, 0, 0, 1),
			})
		}
	}
	w.WriteMsg(resp)
}

// wrap puts the counters, the challenge filter and the "down" switch in
// front of Pebble's handler.
func (c *CA) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		down := c.down
		if down {
			c.downCalls++
		}
		c.mu.Unlock()
		if down {
			http.Error(w, "CA down", http.StatusServiceUnavailable)
			return
		}
		if r.Method != http.MethodPost {
			h.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var jws struct {
			Payload string `json:"payload"`
		}
		json.Unmarshal(body, &jws)
		payload, _ := base64.RawURLEncoding.DecodeString(jws.Payload)

		switch {
		case r.URL.Path == "/order-plz":
			var order struct {
				Identifiers []struct{ Value string } `json:"identifiers"`
			}
			json.Unmarshal(payload, &order)
			c.mu.Lock()
			for _, id := range order.Identifiers {
				c.orders[id.Value]++
			}
			c.mu.Unlock()
			// Pebble makes the authorizations' challenges with the order:
			// filter them before the client sees the order.
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			c.filterChallenges(rec.Body.Bytes())
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		case strings.HasPrefix(r.URL.Path, "/chalZ/") && len(payload) > 0:
			// a POST with a payload ({}) asks for validation; POST-as-GET
			// (empty payload) only reads the challenge
			if ch := c.store.GetChallengeByID(strings.TrimPrefix(r.URL.Path, "/chalZ/")); ch != nil {
				ch.RLock()
				typ := ch.Type
				ch.RUnlock()
				c.mu.Lock()
				c.validations[typ]++
				c.mu.Unlock()
			}
		}
		h.ServeHTTP(w, r)
	})
}

// filterChallenges drops the challenge types not offered from the
// authorizations of a new order (Pebble's response body).
func (c *CA) filterChallenges(orderJSON []byte) {
	c.mu.Lock()
	offered := slices.Clone(c.challenges)
	c.mu.Unlock()
	if offered == nil {
		return
	}
	var order struct {
		Authorizations []string `json:"authorizations"`
	}
	json.Unmarshal(orderJSON, &order)
	for _, u := range order.Authorizations {
		i := strings.LastIndex(u, "/authZ/")
		if i < 0 {
			continue
		}
		authz := c.store.GetAuthorizationByID(u[i+len("/authZ/"):])
		if authz == nil {
			continue
		}
		authz.Lock()
		authz.Challenges = slices.DeleteFunc(authz.Challenges, func(ch *core.Challenge) bool {
			return !slices.Contains(offered, ch.Type)
		})
		authz.Unlock()
	}
}

// SetChallenges makes new authorizations offer only the challenge types
// given (HTTP01, TLSALPN01, ...); none: all of Pebble's again.
// Authorizations already made keep theirs.
func (c *CA) SetChallenges(types ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(types) == 0 {
		c.challenges = nil
		return
	}
	c.challenges = slices.Clone(types)
}

// Orders is the number of new-order requests naming identifier.
func (c *CA) Orders(identifier string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.orders[identifier]
}

// TotalOrders is the number of identifiers in all new-order requests.
func (c *CA) TotalOrders() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.orders {
		n += v
	}
	return n
}

// Validations is the number of challenges of type typ the client asked
// Pebble to validate (whatever the outcome).
func (c *CA) Validations(typ string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.validations[typ]
}

// SetDown makes every request get 503 (down) or be served again.
func (c *CA) SetDown(down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = down
}

// DownCalls is the number of requests that got 503 because the CA was
// down.
func (c *CA) DownCalls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.downCalls
}

// Log returns Pebble's log so far.
func (c *CA) Log() string { return c.logw.String() }

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
