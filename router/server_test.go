package router

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// conn is a raw client connection to the fixture's router.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func (f *fixture) dialRaw(t *testing.T) *rawConn {
	c, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t, c, bufio.NewReader(c)}
}

func (r *rawConn) send(s string) { io.WriteString(r.c, s) }

// response reads one response (method is the request's, for HEAD).
func (r *rawConn) response(method string) (*http.Response, string) {
	r.t.Helper()
	resp, err := http.ReadResponse(r.br, &http.Request{Method: method})
	if err != nil {
		r.t.Fatalf("reading response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatalf("reading body: %v", err)
	}
	return resp, string(b)
}

func (r *rawConn) closed() bool {
	r.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := r.br.ReadByte()
	return err == io.EOF
}

func echoApp() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			w.Write([]byte("part1,"))
			w.(http.Flusher).Flush()
			w.Write([]byte("part2"))
		case "/garbage", "/bighead":
			c, brw, _ := http.NewResponseController(w).Hijack()
			defer c.Close()
			if r.URL.Path == "/garbage" {
				brw.WriteString("NOT HTTP AT ALL\r\n\r\n")
			} else {
				brw.WriteString("HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("x", 10000) + "\r\nContent-Length: 0\r\n\r\n")
			}
			brw.Flush()
		default:
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s %s body=%s", r.Method, r.Host, r.RequestURI, b)
		}
	})
}

func TestPipelining(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("acme", "web", "/", "acme.test")))
	f.backend("acme", "web", 0, echoApp())
	r := f.dialRaw(t)
	r.send("GET /1 HTTP/1.1\r\nHost: acme.test\r\n\r\nPOST /2 HTTP/1.1\r\nHost: acme.test\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: acme.test\r\n\r\n")
	for _, want := range []string{"GET acme.test /1 body=", "POST acme.test /2 body=abc", "GET acme.test /3 body="} {
		if _, body := r.response("GET"); body != want {
			t.Fatalf("got %q, want %q", body, want)
		}
	}
}

func TestHTTP10(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("acme", "web", "/", "acme.test")))
	f.backend("acme", "web", 0, echoApp())
	r := f.dialRaw(t)
	r.send("GET /ka HTTP/1.0\r\nHost: acme.test\r\nConnection: keep-alive\r\n\r\n")
	resp, body := r.response("GET")
	if body != "GET acme.test /ka body=" || resp.Header.Get("Connection") != "keep-alive" {
		t.Fatalf("keep-alive: %q %v", body, resp.Header)
	}
	// chunked from the app: raw until close for a 1.0 client
	r.send("GET /chunked HTTP/1.0\r\nHost: acme.test\r\nConnection: keep-alive\r\n\r\n")
	resp, body = r.response("GET")
	if body != "part1,part2" || len(resp.TransferEncoding) != 0 || !r.closed() {
		t.Fatalf("1.0 chunked: %q %v %v", body, resp.TransferEncoding, resp.Header)
	}
	r = f.dialRaw(t)
	r.send("GET /close HTTP/1.0\r\nHost: acme.test\r\n\r\n")
	if _, body := r.response("GET"); body != "GET acme.test /close body=" || !r.closed() {
		t.Fatalf("1.0 without keep-alive: %q", body)
	}
}

func TestChunkedResponseTo11Client(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("acme", "web", "/", "acme.test")))
	f.backend("acme", "web", 0, echoApp())
	r := f.dialRaw(t)
	for i := 0; i < 2; i++ {
		r.send("GET /chunked HTTP/1.1\r\nHost: acme.test\r\n\r\n")
		resp, body := r.response("GET")
		if body != "part1,part2" || len(resp.TransferEncoding) != 1 {
			t.Fatalf("chunked: %q %v", body, resp.TransferEncoding)
		}
	}
}

// Requests whose framing could be read two ways are refused.
func TestSmugglingAndStrictParsing(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("acme", "web", "/", "acme.test")))
	f.backend("acme", "web", 0, echoApp())
	for req, want := range map[string]string{
		"POST / HTTP/1.1\r\nHost: acme.test\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n": "400",
		"POST / HTTP/1.1\r\nHost: acme.test\r\nTransfer-Encoding: chunked, identity\r\n\r\n":                     "501",
		"POST / HTTP/1.1\r\nHost: acme.test\r\nTransfer-Encoding: xchunked\r\n\r\n":                              "501",
		"POST / HTTP/1.1\r\nHost: acme.test\r\nContent-Length: +3\r\n\r\nabc":                                    "400",
		"POST / HTTP/1.1\r\nHost: acme.test\r\nContent-Length: 3, 3\r\n\r\nabc":                                  "400",
		"POST / HTTP/1.0\r\nHost: acme.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n":                      "400",
		"GET / HTTP/1.1\r\nHost : acme.test\r\n\r\n":                                                             "400",
		"GET / HTTP/1.1\r\nHost: acme.test\r\nX: a\x00b\r\n\r\n":                                                 "400",
		"GET / HTTP/1.1\r\nHost: acme.test\r\nX: a\r\n b\r\n\r\n":                                                "400",
		"GET / HTTP/1.1\r\nHost: acme test\r\n\r\n":                                                              "400",
		"GET /a b HTTP/1.1\r\nHost: acme.test\r\n\r\n":                                                           "400",
		"GET /%zz HTTP/1.1\r\nHost: acme.test\r\n\r\n":                                                           "400",
		"G(T / HTTP/1.1\r\nHost: acme.test\r\n\r\n":                                                              "400",
		"GET x HTTP/1.1\r\nHost: acme.test\r\n\r\n":                                                              "400",
		"CONNECT acme.test:443 HTTP/1.1\r\nHost: acme.test\r\n\r\n":                                              "405",
		"GET / HTTP/1.1\r\nHost: acme.test\r\nExpect: magic\r\n\r\n":                                             "417",
		"GET / HTTP/2.0\r\nHost: acme.test\r\n\r\n":                                                              "505",
		"\r\nGET /ok HTTP/1.1\r\nHost: acme.test\r\n\r\n":                                                        "200",
		"GET http://ACME.test/abs?x=1 HTTP/1.1\r\nHost: other.test\r\n\r\n":                                      "200",
		"GET /ok HTTP/1.1\nHost: acme.test\n\n":                                                                  "200",
	} {
		got := f.raw(req)
		if !strings.HasPrefix(got, "HTTP/1.1 "+want) {
			t.Errorf("%q: got %q, want %s", req, got, want)
		}
	}
	// the absolute form is routed by its authority and sent in origin form
	r := f.dialRaw(t)
	r.send("GET http://acme.test/abs?x=1 HTTP/1.1\r\nHost: other.test\r\n\r\n")
	if _, body := r.response("GET"); body != "GET acme.test /abs?x=1 body=" {
		t.Fatalf("absolute-form: %q", body)
	}
}

func TestExpectContinue(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("acme", "web", "/", "acme.test")))
	f.backend("acme", "web", 0, echoApp())
	r := f.dialRaw(t)
	r.send("POST /up HTTP/1.1\r\nHost: acme.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	line, err := r.br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("interim: %q %v", line, err)
	}
	r.br.ReadString('\n')
	r.send("hello")
	if _, body := r.response("POST"); body != "POST acme.test /up body=hello" {
		t.Fatalf("%q", body)
	}
}

func TestBadAppResponses(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("acme", "web", "/", "acme.test")))
	f.backend("acme", "web", 0, echoApp())
	c := f.client()
	for _, p := range []string{"/garbage", "/bighead"} {
		if code, _, _ := f.get(c, "http://acme.test"+p); code != 502 {
			t.Errorf("%s: %d, want 502", p, code)
		}
	}
	if code, _, _ := f.get(c, "http://acme.test/fine"); code != 200 {
		t.Fatalf("after: %d", code)
	}
}

// Idle keep-alive connections are closed after the idle timeout.
func TestClientIdleTimeout(t *testing.T) {
	f := newFixture(t, Config{IdleTimeout: 300 * time.Millisecond}, mkSet(app("acme", "web", "/", "acme.test")))
	f.backend("acme", "web", 0, echoApp())
	r := f.dialRaw(t)
	r.send("GET / HTTP/1.1\r\nHost: acme.test\r\n\r\n")
	r.response("GET")
	start := time.Now()
	if !r.closed() {
		t.Fatal("idle connection not closed")
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 1500*time.Millisecond {
		t.Fatalf("closed after %s", d)
	}
}

// A kept-alive connection busy for longer than its idle timeout still gets
// the whole idle timeout after its last request, less at most the grain
// by which the router moves the deadline (waitDeadline), and is closed
// then.
func TestIdleTimeoutAfterBusyConnection(t *testing.T) {
	const idle = 400 * time.Millisecond
	f := newFixture(t, Config{IdleTimeout: idle}, mkSet(app("acme", "web", "/", "acme.test")))
	f.backend("acme", "web", 0, echoApp())
	r := f.dialRaw(t)
	// 40 requests over ~800 ms: a deadline kept from the first ones
	// would close the connection in the middle.
	for i := 0; i < 40; i++ {
		r.send("GET / HTTP/1.1\r\nHost: acme.test\r\n\r\n")
		if resp, _ := r.response("GET"); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
	last := time.Now().Add(-20 * time.Millisecond)
	if !r.closed() {
		t.Fatal("idle connection not closed")
	}
	// 20 ms of slack for the scheduling between the router's clock
	// reading and ours.
	if d := time.Since(last); d < idle-deadlineGrain(idle)-20*time.Millisecond || d > idle+time.Second {
		t.Fatalf("closed %s after the last request, want %s to %s", d, idle-deadlineGrain(idle), idle)
	}
}

// Shutdown lets a request in flight finish, closes idle keep-alive
// connections at once, answers the first request of a connection accepted
// before it (and then closes that one), and refuses new connections.
func TestGracefulShutdown(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("acme", "web", "/", "acme.test")))
	f.backend("acme", "web", 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "finished")
	}))
	idle := f.dialRaw(t)
	idle.send("GET / HTTP/1.1\r\nHost: acme.test\r\n\r\n")
	idle.response("GET")
	fresh := f.dialRaw(t)
	busy := f.dialRaw(t)
	busy.send("GET / HTTP/1.1\r\nHost: acme.test\r\n\r\n")
	time.Sleep(50 * time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- f.srv.Shutdown(context.Background()) }()
	if !idle.closed() {
		t.Fatal("idle connection still open")
	}
	// Its request was on the wire when the old router stopped.
	fresh.send("GET / HTTP/1.1\r\nHost: acme.test\r\n\r\n")
	if resp, body := fresh.response("GET"); body != "finished" || !resp.Close {
		t.Fatalf("first request of a new connection: %q %v", body, resp.Header)
	}
	resp, body := busy.response("GET")
	if body != "finished" || !resp.Close {
		t.Fatalf("in flight: %q %v", body, resp.Header)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	if c, err := net.DialTimeout("tcp", f.addr, time.Second); err == nil {
		c.Close()
		t.Fatal("still accepting")
	}
}

// Bodies of every size around the buffer sizes arrive intact, with a
// known length and chunked, and the connection stays usable.
func TestResponseSizes(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("acme", "web", "/", "acme.test")))
	data := make([]byte, 300000)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	f.backend("acme", "web", 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscan(r.URL.Query().Get("n"), &n)
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", fmt.Sprint(n))
		}
		for off := 0; off < n; off += 7000 { // several writes
			w.Write(data[off:min(n, off+7000)])
		}
	}))
	c := f.client()
	for _, n := range []int{0, 1, 4095, 4096, 8191, 8192, 8193, 32767, 32768, 32769, 100000, 300000} {
		for _, ch := range []string{"", "1"} {
			code, body, _ := f.get(c, fmt.Sprintf("http://acme.test/?n=%d&chunked=%s", n, ch))
			if code != 200 || body != string(data[:n]) {
				t.Fatalf("n=%d chunked=%q: %d, %d bytes", n, ch, code, len(body))
			}
		}
	}
}

// Routing uses the path with dot segments removed and percent-decoding
// applied; the app receives the target as sent.
func TestRoutingPathNormalisation(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("acme", "web", "/", "acme.test"), app("acme", "api", "/api", "acme.test")))
	f.backend("acme", "web", 0, hello("web"))
	f.backend("acme", "api", 0, hello("api"))
	for target, want := range map[string]string{
		"/api/x":          "hello from api",
		"/api/../admin":   "hello from web",
		"/x/../api/y":     "hello from api",
		"/%61pi/x":        "hello from api",
		"/api%2F..%2Fx":   "hello from web",
		"/api/./x":        "hello from api",
		"/./api":          "hello from api",
		"/apix/../api/..": "hello from web",
	} {
		r := f.dialRaw(t)
		r.send("GET " + target + " HTTP/1.1\r\nHost: acme.test\r\n\r\n")
		if _, body := r.response("GET"); body != want {
			t.Errorf("%s: %q, want %q", target, body, want)
		}
	}
}

// An app slower than the client timeouts (read-header, idle) still gets
// its answer through: those limits are for the client, not for the app.
func TestSlowAppBeyondClientTimeouts(t *testing.T) {
	f := newFixture(t, Config{ReadHeaderTimeout: 200 * time.Millisecond, IdleTimeout: 300 * time.Millisecond},
		mkSet(app("acme", "web", "/", "acme.test")))
	f.backend("acme", "web", 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(700 * time.Millisecond)
		io.WriteString(w, "late")
	}))
	r := f.dialRaw(t)
	for i := 0; i < 2; i++ { // the first request and a kept-alive one
		r.send("GET / HTTP/1.1\r\nHost: acme.test\r\n\r\n")
		if resp, body := r.response("GET"); resp.StatusCode != 200 || body != "late" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
}
