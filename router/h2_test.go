package router

import (
	"bufio"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/ehecoatl/ehecoatl/manifest"
)

// h2Fixture serves apps over HTTPS (tls: auto; the first app with hsts)
// with a certificate for all their domains.
func h2Fixture(t testing.TB, cfg Config, apps ...*manifest.App) (*fixture, *fakeCerts) {
	var names []string
	for i, a := range apps {
		a.TLS = manifest.TLS{Mode: manifest.TLSAuto}
		a.HSTS = i == 0
		names = append(names, a.Domains...)
	}
	fc := newFakeCerts(t, names...)
	cfg.Certs = fc
	return newFixture(t, cfg, mkSet(apps...)), fc
}

// h2Client is an HTTP/2-only client that sends every request to the
// router; dials counts the connections it opened.
func (f *fixture) h2Client(pool *x509.CertPool) (c *http.Client, dials *atomic.Int32) {
	dials = new(atomic.Int32)
	var p http.Protocols
	p.SetHTTP2(true)
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, "tcp", f.addr)
		},
		TLSClientConfig:    &tls.Config{RootCAs: pool},
		Protocols:          &p,
		DisableCompression: true,
	}
	f.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}, dials
}

// h2Echo answers with what the app got, as JSON, and a few response
// fields the router must drop (hop-by-hop) or keep.
func h2Echo() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("Connection", "X-Secret")
		w.Header().Set("X-Secret", "hop")
		w.Header().Set("X-App", "yes")
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(h2Seen{Proto: r.Proto, Method: r.Method, URI: r.RequestURI, Host: r.Host, Header: r.Header,
			Body: fmt.Sprintf("%d:%x", len(b), sha1.Sum(b)), TE: r.TransferEncoding, Length: r.ContentLength})
	})
}

type h2Seen struct {
	Proto, Method, URI, Host, Body string
	Header                         http.Header
	TE                             []string
	Length                         int64
}

func h2Do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", req.Method, req.URL, err)
	}
	if resp.ProtoMajor != 2 {
		t.Fatalf("%s %s: %s", req.Method, req.URL, resp.Proto)
	}
	return resp, b
}

func h2Get(t *testing.T, c *http.Client, url, host string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if host != "" {
		req.Host = host
	}
	return h2Do(t, c, req)
}

func seen(t *testing.T, b []byte) h2Seen {
	t.Helper()
	var s h2Seen
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%v: %q", err, b)
	}
	return s
}

// HTTP/2 reaches the app as HTTP/1.1 with the X-Forwarded-* of an
// untrusted client, hop-by-hop fields dropped both ways, routed on host
// and longest path (dot segments removed), HSTS by the app's manifest.
func TestH2Forward(t *testing.T) {
	site := app("acme", "site", "/", "acme.example.com")
	api := app("acme", "api", "/api", "acme.example.com")
	shop := app("acme", "shop", "/", "shop.example.com")
	f, fc := h2Fixture(t, Config{}, site, api, shop)
	for _, n := range []string{"site", "api", "shop"} {
		f.backend("acme", n, 0, h2Echo())
	}
	c, dials := f.h2Client(fc.pool)

	req, _ := http.NewRequest("GET", "https://acme.example.com/p/a%20b?q=1&r=%2F", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	req.Header.Set("X-Forwarded-Proto", "http")
	req.Header.Set("X-Forwarded-Host", "evil.test")
	req.Header.Set("Forwarded", "for=203.0.113.9")
	req.Header.Set("Proxy-Authorization", "Basic x")
	req.Header.Set("Te", "trailers")
	req.Header.Set("X-Custom", "kept")
	req.Header.Add("Cookie", "c=1")
	req.Header.Add("Cookie", "d=2")
	resp, b := h2Do(t, c, req)
	got := seen(t, b)
	if resp.StatusCode != 200 || got.Proto != "HTTP/1.1" || got.Method != "GET" || got.URI != "/p/a%20b?q=1&r=%2F" || got.Host != "acme.example.com" {
		t.Fatalf("%d: the app got %+v", resp.StatusCode, got)
	}
	for k, v := range map[string]string{
		"X-Forwarded-For":   "127.0.0.1",
		"X-Forwarded-Proto": "https",
		"X-Forwarded-Host":  "acme.example.com",
		"X-Custom":          "kept",
		"Cookie":            "c=1; d=2",
	} {
		if got.Header.Get(k) != v || len(got.Header[k]) != 1 {
			t.Errorf("the app got %s %q, want %q", k, got.Header[k], v)
		}
	}
	for _, k := range []string{"Forwarded", "Proxy-Authorization", "Te"} {
		if v, ok := got.Header[k]; ok {
			t.Errorf("%s forwarded: %q", k, v)
		}
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); hsts != "max-age=31536000" {
		t.Errorf("Strict-Transport-Security %q", hsts)
	}
	for _, k := range []string{"Keep-Alive", "X-Secret", "Connection"} {
		if v, ok := resp.Header[k]; ok {
			t.Errorf("response hop-by-hop %s passed: %q", k, v)
		}
	}
	if resp.Header.Get("X-App") != "yes" || strings.Join(resp.Header["Set-Cookie"], ";") != "a=1;b=2" ||
		resp.Header.Get("Content-Type") != "application/json" || resp.ContentLength != int64(len(b)) {
		t.Errorf("response head: %d %v", resp.ContentLength, resp.Header)
	}

	// Longest path; dot segments removed before routing.
	for path, uri := range map[string]string{"/api/v1": "/api/v1", "/apix": "/apix", "/api/../x": "/api/../x"} {
		resp, b := h2Get(t, c, "https://acme.example.com"+path, "")
		want := "api"
		if path != "/api/v1" {
			want = "site"
		}
		if got := seen(t, b); got.URI != uri || resp.Header.Get("Strict-Transport-Security") == "" && want == "site" {
			t.Errorf("%s: %+v", path, got)
		}
		if e := f.log.all(); e[len(e)-1].App != want {
			t.Errorf("%s went to %s, want %s", path, e[len(e)-1].App, want)
		}
	}

	// No HSTS without hsts: true; the Host picks the route, any case or port.
	resp, b = h2Get(t, c, "https://shop.example.com/", "")
	if resp.StatusCode != 200 || resp.Header.Get("Strict-Transport-Security") != "" {
		t.Errorf("shop: %d %v", resp.StatusCode, resp.Header)
	}
	resp, b = h2Get(t, c, "https://acme.example.com/", "ACME.example.com:443")
	if resp.StatusCode != 200 || seen(t, b).Header.Get("X-Forwarded-Host") != "ACME.example.com:443" {
		t.Errorf("host with port: %d %s", resp.StatusCode, b)
	}

	// Unknown host: 404, logged without tenant.
	resp, b = h2Get(t, c, "https://acme.example.com/x", "nobody.example.com")
	if resp.StatusCode != 404 || string(b) != "404 Not Found\n" || resp.Header.Get("Strict-Transport-Security") != "" {
		t.Errorf("unknown host: %d %q %v", resp.StatusCode, b, resp.Header)
	}
	if e := f.log.all(); e[len(e)-1].Status != 404 || e[len(e)-1].Tenant != "" || e[len(e)-1].Host != "nobody.example.com" {
		t.Errorf("access log: %+v", e[len(e)-1])
	}

	// Bodies: small (read whole first), large, and of unknown length
	// (chunked to the app); HEAD keeps the length.
	for _, c0 := range []struct {
		name    string
		n       int
		unknown bool
	}{{"small", 1000, false}, {"large", 300 << 10, false}, {"unknown length", 200 << 10, true}, {"empty", 0, false}} {
		body := strings.Repeat("x", c0.n)
		var r io.Reader = strings.NewReader(body)
		if c0.unknown {
			r = io.MultiReader(r) // hides the length
		}
		req, _ := http.NewRequest("POST", "https://acme.example.com/upload", r)
		resp, b := h2Do(t, c, req)
		got := seen(t, b)
		if want := fmt.Sprintf("%d:%x", c0.n, sha1.Sum([]byte(body))); resp.StatusCode != 200 || got.Body != want || got.Proto != "HTTP/1.1" {
			t.Errorf("%s: %d %+v", c0.name, resp.StatusCode, got)
		}
		if c0.unknown != (len(got.TE) == 1 && got.TE[0] == "chunked") || !c0.unknown && got.Length != int64(c0.n) {
			t.Errorf("%s: framing to the app TE=%q length %d", c0.name, got.TE, got.Length)
		}
	}
	// CONNECT (and so WebSocket over HTTP/2) is refused, as over HTTP/1.1.
	req, _ = http.NewRequest("CONNECT", "https://acme.example.com", nil)
	if resp, _ = h2Do(t, c, req); resp.StatusCode != 405 {
		t.Errorf("CONNECT: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest("HEAD", "https://acme.example.com/", nil)
	resp, b = h2Do(t, c, req)
	if resp.StatusCode != 200 || len(b) != 0 || resp.ContentLength <= 0 {
		t.Errorf("HEAD: %d %d %q", resp.StatusCode, resp.ContentLength, b)
	}
	if n := dials.Load(); n != 2 { // acme.example.com's and shop.example.com's
		t.Errorf("%d connections for sequential requests to two hosts", n)
	}
}

// A trusted proxy's X-Forwarded-* are kept over HTTP/2 too.
func TestH2TrustedProxy(t *testing.T) {
	f, fc := h2Fixture(t, Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		app("acme", "site", "/", "acme.example.com"))
	f.backend("acme", "site", 0, h2Echo())
	c, _ := f.h2Client(fc.pool)
	req, _ := http.NewRequest("GET", "https://acme.example.com/", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	req.Header.Set("X-Forwarded-Proto", "http")
	req.Header.Set("Forwarded", "for=203.0.113.9")
	_, b := h2Do(t, c, req)
	h := seen(t, b).Header
	if h.Get("X-Forwarded-For") != "203.0.113.9, 127.0.0.1" || h.Get("X-Forwarded-Proto") != "http" ||
		h.Get("Forwarded") != "for=203.0.113.9" || h.Get("X-Forwarded-Host") != "acme.example.com" {
		t.Errorf("the app got %v", h)
	}
}

// holdApp answers /hold only when release is closed (or after 10 s) and
// everything else at once; held counts the requests waiting.
type holdApp struct {
	release chan struct{}
	held    atomic.Int32
}

func newHoldApp() *holdApp { return &holdApp{release: make(chan struct{})} }

func (h *holdApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/hold" {
		h.held.Add(1)
		defer h.held.Add(-1)
		select {
		case <-h.release:
		case <-r.Context().Done():
			return
		case <-time.After(10 * time.Second):
		}
	}
	io.WriteString(w, "done "+r.URL.Path)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The tenant cap, the per-client cap and the body limit apply to streams
// as to HTTP/1.1 requests; a stream in flight counts for idle tracking.
func TestH2Limits(t *testing.T) {
	t.Run("tenant cap", func(t *testing.T) {
		f, fc := h2Fixture(t, Config{TenantMaxInFlight: 1}, app("acme", "site", "/", "acme.example.com"))
		h := newHoldApp()
		f.backend("acme", "site", 0, h)
		c, _ := f.h2Client(fc.pool)
		first := make(chan int, 1)
		go func() {
			resp, err := c.Get("https://acme.example.com/hold")
			if err != nil {
				first <- 0
				return
			}
			resp.Body.Close()
			first <- resp.StatusCode
		}()
		waitFor(t, "the held request", func() bool { return h.held.Load() == 1 })
		if a := f.rt.Activity(); len(a) != 1 || a[0].InFlight != 1 {
			t.Errorf("activity while held: %+v", a)
		}
		resp, b := h2Get(t, c, "https://acme.example.com/other", "")
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || string(b) != "503 Service Unavailable\n" {
			t.Errorf("over the cap: %d %q %v", resp.StatusCode, b, resp.Header)
		}
		close(h.release)
		if s := <-first; s != 200 {
			t.Errorf("held request: %d", s)
		}
		if resp, _ := h2Get(t, c, "https://acme.example.com/other", ""); resp.StatusCode != 200 {
			t.Errorf("after release: %d", resp.StatusCode)
		}
		waitFor(t, "the slot to be free", func() bool { return f.inflight("acme") == 0 })
		if a := f.rt.Activity(); a[0].InFlight != 0 || time.Since(a[0].LastActive) > 5*time.Second {
			t.Errorf("activity after: %+v", a)
		}
	})
	t.Run("client cap", func(t *testing.T) {
		f, fc := h2Fixture(t, Config{ClientMaxInFlight: 1}, app("acme", "site", "/", "acme.example.com"))
		h := newHoldApp()
		f.backend("acme", "site", 0, h)
		c, _ := f.h2Client(fc.pool)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if resp, err := c.Get("https://acme.example.com/hold"); err == nil {
				resp.Body.Close()
			}
		}()
		waitFor(t, "the held request", func() bool { return h.held.Load() == 1 })
		resp, _ := h2Get(t, c, "https://acme.example.com/other", "")
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" {
			t.Errorf("over the client cap: %d %v", resp.StatusCode, resp.Header)
		}
		close(h.release)
		<-done
	})
	t.Run("body limit", func(t *testing.T) {
		f, fc := h2Fixture(t, Config{MaxBodyBytes: 1000}, app("acme", "site", "/", "acme.example.com"))
		f.backend("acme", "site", 0, h2Echo())
		c, _ := f.h2Client(fc.pool)
		for _, unknown := range []bool{false, true} {
			var r io.Reader = strings.NewReader(strings.Repeat("x", 5000))
			if unknown {
				r = io.MultiReader(r)
			}
			req, _ := http.NewRequest("POST", "https://acme.example.com/", r)
			resp, _ := h2Do(t, c, req)
			if resp.StatusCode != 413 {
				t.Errorf("unknown length %v: %d", unknown, resp.StatusCode)
			}
		}
		req, _ := http.NewRequest("POST", "https://acme.example.com/", strings.NewReader(strings.Repeat("x", 1000)))
		if resp, _ := h2Do(t, c, req); resp.StatusCode != 200 {
			t.Errorf("at the limit: %d", resp.StatusCode)
		}
	})
}

// A request body too slow for the body pace gets 408, whether it is read
// before the request takes a slot (small, known length) or streamed.
func TestH2SlowBody(t *testing.T) {
	f, fc := h2Fixture(t, Config{BodyTimeout: 300 * time.Millisecond}, app("acme", "site", "/", "acme.example.com"))
	f.backend("acme", "site", 0, h2Echo())
	c, _ := f.h2Client(fc.pool)
	for _, n := range []int64{100, 200 << 10, -1} {
		pr, pw := io.Pipe()
		req, _ := http.NewRequest("POST", "https://acme.example.com/", pr)
		req.ContentLength = n
		go pw.Write([]byte("0123456789")) // then nothing
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("length %d: %v", n, err)
		}
		resp.Body.Close()
		if d := time.Since(start); resp.StatusCode != 408 || d > 3*time.Second {
			t.Errorf("length %d: %d after %s", n, resp.StatusCode, d)
		}
		pw.Close()
	}
	waitFor(t, "the slots to be free", func() bool { return f.inflight("acme") == 0 })
}

// Large responses, of known length and chunked, arrive whole.
func TestH2LargeResponses(t *testing.T) {
	f, fc := h2Fixture(t, Config{}, app("acme", "site", "/", "acme.example.com"))
	big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	f.backend("acme", "site", 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/known" {
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
		}
		for i := 0; i < len(big); i += 100 << 10 {
			io.WriteString(w, big[i:min(i+100<<10, len(big))])
		}
	}))
	c, _ := f.h2Client(fc.pool)
	for _, p := range []string{"/known", "/chunked"} {
		resp, b := h2Get(t, c, "https://acme.example.com"+p, "")
		if resp.StatusCode != 200 || string(b) != big {
			t.Errorf("%s: %d, %d bytes", p, resp.StatusCode, len(b))
		}
		if p == "/known" && resp.ContentLength != int64(len(big)) {
			t.Errorf("%s: Content-Length %d", p, resp.ContentLength)
		}
	}
}

// Each stream is one access log entry with the fields of HTTP/1.1's.
func TestH2AccessLog(t *testing.T) {
	f, fc := h2Fixture(t, Config{}, app("acme", "site", "/", "acme.example.com"))
	f.backend("acme", "site", 0, hello("site"))
	c, _ := f.h2Client(fc.pool)
	h2Get(t, c, "https://acme.example.com/a/b?q=1", "")
	es := f.log.all()
	if len(es) != 1 {
		t.Fatalf("access log: %+v", es)
	}
	if e := es[0]; e.Tenant != "acme" || e.App != "site" || e.Method != "GET" || e.Host != "acme.example.com" ||
		e.Path != "/a/b" || e.Status != 200 || e.Duration <= 0 || time.Since(e.Time) > 5*time.Second {
		t.Errorf("entry %+v", e)
	}
}

// A streamed response reaches the client as the app sends it: the app
// sends its second part only once the client has the first.
func TestH2Streaming(t *testing.T) {
	f, fc := h2Fixture(t, Config{}, app("acme", "site", "/", "acme.example.com"))
	next := make(chan struct{})
	f.backend("acme", "site", 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-next:
			io.WriteString(w, "data: two\n\n")
		case <-time.After(5 * time.Second):
			io.WriteString(w, "data: late\n\n")
		}
	}))
	c, _ := f.h2Client(fc.pool)
	resp, err := c.Get("https://acme.example.com/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%s %v", resp.Proto, resp.Header)
	}
	br := bufio.NewReader(resp.Body)
	start := time.Now()
	line, err := br.ReadString('\n')
	if err != nil || line != "data: one\n" {
		t.Fatalf("first event: %q %v", line, err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("first event after %s", d)
	}
	close(next)
	rest, _ := io.ReadAll(br)
	if string(rest) != "\ndata: two\n\n" {
		t.Fatalf("rest %q", rest)
	}
}

// Many streams at once share one connection.
func TestH2ConcurrentStreams(t *testing.T) {
	f, fc := h2Fixture(t, Config{}, app("acme", "site", "/", "acme.example.com"), app("beta", "site", "/", "beta.example.com"))
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		io.WriteString(w, r.URL.Path)
	})
	f.backend("acme", "site", 0, slow)
	f.backend("beta", "site", 0, slow)
	c, dials := f.h2Client(fc.pool)
	h2Get(t, c, "https://acme.example.com/warm", "") // one connection, then many streams on it
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			host := []string{"acme.example.com", "beta.example.com"}[i%2]
			path := fmt.Sprintf("/r%d", i)
			req, _ := http.NewRequest("GET", "https://acme.example.com"+path, nil)
			req.Host = host
			resp, err := c.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != path || resp.ProtoMajor != 2 {
				errs <- fmt.Sprintf("%s: %d %q", path, resp.StatusCode, b)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if d := dials.Load(); d != 1 {
		t.Errorf("%d connections", d)
	}
	if es := f.log.all(); len(es) != n+1 {
		t.Errorf("%d access log entries", len(es))
	}
}

// Shutdown sends GOAWAY: a stream in flight finishes, and Shutdown
// returns once the connections are done, the idle ones included.
func TestH2GracefulShutdown(t *testing.T) {
	f, fc := h2Fixture(t, Config{}, app("acme", "site", "/", "acme.example.com"))
	h := newHoldApp()
	f.backend("acme", "site", 0, h)
	c, _ := f.h2Client(fc.pool)
	h2Get(t, c, "https://acme.example.com/warm", "")
	// A second connection, idle when Shutdown starts: GOAWAY closes it.
	idle, _ := f.h2Client(fc.pool)
	h2Get(t, idle, "https://acme.example.com/warm", "")
	type res struct {
		status int
		body   string
		err    error
	}
	first := make(chan res, 1)
	go func() {
		resp, err := c.Get("https://acme.example.com/hold")
		if err != nil {
			first <- res{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		first <- res{resp.StatusCode, string(b), err}
	}()
	waitFor(t, "the held request", func() bool { return h.held.Load() == 1 })
	shut := make(chan error, 1)
	start := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- f.srv.Shutdown(ctx)
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned with a stream in flight: %v", err)
	default:
	}
	close(h.release)
	if r := <-first; r.err != nil || r.status != 200 || r.body != "done /hold" {
		t.Fatalf("the stream in flight: %+v", r)
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return after the stream")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Shutdown took %s", d)
	}
}

// The app's failures answer as over HTTP/1.1: 502 when it is absent,
// 503 with Retry-After: 5 when it does not answer within StartTimeout.
func TestH2UpstreamErrors(t *testing.T) {
	f, fc := h2Fixture(t, Config{StartTimeout: 300 * time.Millisecond},
		app("gone", "web", "/", "gone.example.com"), app("stuck", "web", "/", "stuck.example.com"))
	os.MkdirAll(filepath.Join(f.runDir, "stuck"), 0o755)
	sl, err := net.Listen("unix", filepath.Join(f.runDir, "stuck", "web.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer sl.Close()
	c, _ := f.h2Client(fc.pool)
	resp, b := h2Get(t, c, "https://gone.example.com/", "")
	if resp.StatusCode != 502 || string(b) != "502 Bad Gateway\n" {
		t.Errorf("missing socket: %d %q", resp.StatusCode, b)
	}
	start := time.Now()
	resp, _ = h2Get(t, c, "https://stuck.example.com/", "")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "5" {
		t.Errorf("start timeout: %d %v", resp.StatusCode, resp.Header)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 3*time.Second {
		t.Errorf("start timeout after %s", d)
	}
}

// A client that resets its stream aborts the app's request (its
// connection is closed), and the entry says 499.
func TestH2ClientGone(t *testing.T) {
	f, fc := h2Fixture(t, Config{}, app("acme", "site", "/", "acme.example.com"))
	canceled := make(chan time.Duration, 1)
	f.backend("acme", "site", 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/wait" {
			return
		}
		start := time.Now()
		select {
		case <-r.Context().Done():
			canceled <- time.Since(start)
		case <-time.After(5 * time.Second):
			canceled <- -1
		}
	}))
	c, _ := f.h2Client(fc.pool)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://acme.example.com/wait", nil)
	go func() {
		time.Sleep(300 * time.Millisecond)
		cancel()
	}()
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("status %d", resp.StatusCode)
	}
	if d := <-canceled; d < 0 || d > 2*time.Second {
		t.Fatalf("the app's request was not canceled (%s)", d)
	}
	waitFor(t, "the access log entry", func() bool { return len(f.log.all()) == 1 })
	if es := f.log.all(); es[0].Status != 499 {
		t.Fatalf("access log: %+v", es)
	}
	// The connection serves on.
	if resp, _ := h2Get(t, c, "https://acme.example.com/", ""); resp.StatusCode != 200 {
		t.Fatalf("after the reset: %d", resp.StatusCode)
	}
}

// WebSockets stay on HTTP/1.1: the router does not offer RFC 8441
// extended CONNECT over HTTP/2, and an upgrade over TLS with ALPN
// http/1.1 works.
func TestH2WebSocketStaysHTTP1(t *testing.T) {
	f, fc := h2Fixture(t, Config{}, app("acme", "chat", "/", "chat.example.com"))
	f.backend("acme", "chat", 0, wsEcho(t))

	conn, err := tls.Dial("tcp", f.addr, &tls.Config{ServerName: "chat.example.com", RootCAs: fc.pool, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, http2.ClientPreface)
	fr := http2.NewFramer(conn, conn)
	fr.WriteSettings()
	frame, err := fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	sf, ok := frame.(*http2.SettingsFrame)
	if !ok {
		t.Fatalf("first frame %v", frame)
	}
	if v, ok := sf.Value(http2.SettingEnableConnectProtocol); ok && v != 0 {
		t.Errorf("SETTINGS_ENABLE_CONNECT_PROTOCOL %d", v)
	}
	conn.Close()

	conn, err = tls.Dial("tcp", f.addr, &tls.Config{ServerName: "chat.example.com", RootCAs: fc.pool, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: chat.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", key)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Sec-Websocket-Accept") != wsAccept(key) {
		t.Fatalf("handshake: %d %v", resp.StatusCode, resp.Header)
	}
	if err := wsWrite(conn, 1, []byte("hello"), true); err != nil {
		t.Fatal(err)
	}
	if op, got, err := wsRead(br); err != nil || op != 1 || string(got) != "hello" {
		t.Fatalf("echo: %d %q %v", op, got, err)
	}
}

// BenchmarkForwardH2 compares HTTPS requests over HTTP/2 (one connection,
// streams multiplexed, as browsers and Go's client do) with HTTPS
// requests over HTTP/1.1 (a kept-alive connection per client goroutine);
// it prints the throughput ratio h2/h1.
func BenchmarkForwardH2(b *testing.B) {
	f, fc := h2Fixture(b, Config{AccessLog: discardLog{}}, app("acme", "web", "/", "acme.example.com"))
	f.backend("acme", "web", 0, hello("web"))
	var nsH1, nsH2 float64
	b.Run("h1", func(b *testing.B) {
		tr := &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "tcp", f.addr)
			},
			TLSClientConfig:     &tls.Config{RootCAs: fc.pool},
			MaxIdleConnsPerHost: 512,
			DisableCompression:  true,
		}
		b.Cleanup(tr.CloseIdleConnections)
		c := &http.Client{Transport: tr, Timeout: 20 * time.Second}
		start := time.Now()
		benchGet(b, c, "acme.example.com", "https://acme.example.com/")
		nsH1 = float64(time.Since(start).Nanoseconds()) / float64(b.N)
	})
	b.Run("h2", func(b *testing.B) {
		c, _ := f.h2Client(fc.pool)
		start := time.Now()
		benchGet(b, c, "acme.example.com", "https://acme.example.com/")
		nsH2 = float64(time.Since(start).Nanoseconds()) / float64(b.N)
	})
	if nsH1 > 0 && nsH2 > 0 {
		fmt.Printf("forward https: h1 %.0f req/s, h2 %.0f req/s, ratio h2/h1 %.2f\n", 1e9/nsH1, 1e9/nsH2, nsH1/nsH2)
	}
}
