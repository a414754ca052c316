package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// go test ./tests/benchrouter/epollproxy -args -raw runs the tests with
// -raw's system calls.
var testRaw = flag.Bool("raw", false, "make the socket calls with RawSyscall (the proxy's -raw)")

func TestMain(m *testing.M) {
	flag.Parse()
	rawCalls = *testRaw
	os.Exit(m.Run())
}

// startProxy starts a backend on a unix socket and the proxy in front of
// it (loops goroutines, which outlive the test: they are idle in
// epoll_wait); it returns the proxy's address.
func startProxy(t *testing.T, loops int, srv *http.Server) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "app.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	if srv == nil {
		srv = &http.Server{}
	}
	srv.Handler = backend()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	p, err := newProxy("127.0.0.1:0", map[string]string{"acme.test": sock}, loops)
	if err != nil {
		t.Fatal(err)
	}
	p.start()
	return p.addr
}

// backend answers /xff with the forwarding fields it got, /big with
// 4 MiB, /chunked with a chunked body, and anything else with its path.
func backend() http.Handler {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/xff":
			fmt.Fprintf(w, "%s|%s|%s|%d", r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"),
				r.Header.Get("X-Forwarded-Host"), len(r.Header.Get("X-Request-Id")))
		case "/big":
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			w.Write(big)
		case "/chunked":
			w.Write([]byte("part"))
			w.(http.Flusher).Flush()
		default:
			w.Write([]byte(r.URL.Path))
		}
	})
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c, bufio.NewReader(c)
}

func get(path, host string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n"
}

func read(t *testing.T, br *bufio.Reader) (int, string, http.Header) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func TestKeepAlive(t *testing.T) {
	addr := startProxy(t, 2, nil)
	c, br := dial(t, addr)
	for i := range 1000 {
		path := fmt.Sprintf("/n/%d", i)
		if _, err := io.WriteString(c, get(path, "acme.test")); err != nil {
			t.Fatal(err)
		}
		code, body, h := read(t, br)
		if code != 200 || body != path || h.Get("Content-Length") != fmt.Sprint(len(path)) {
			t.Fatalf("request %d: %d %q %v", i, code, body, h)
		}
	}
}

func TestPipelined(t *testing.T) {
	addr := startProxy(t, 1, nil)
	c, br := dial(t, addr)
	// One write: the second is for an unknown host, answered by the
	// proxy itself between two proxied answers.
	io.WriteString(c, get("/p/1", "acme.test")+get("/p/2", "other.test")+get("/p/3", "ACME.test:80")+get("/p/4", "acme.test"))
	want := []struct {
		code int
		body string
	}{{200, "/p/1"}, {404, "404 Not Found\n"}, {200, "/p/3"}, {200, "/p/4"}}
	for i, w := range want {
		code, body, _ := read(t, br)
		if code != w.code || body != w.body {
			t.Fatalf("answer %d: %d %q, want %d %q", i+1, code, body, w.code, w.body)
		}
	}
}

func TestRefusals(t *testing.T) {
	addr := startProxy(t, 1, nil)
	c, br := dial(t, addr)
	io.WriteString(c, get("/", "nobody.test"))
	if code, _, h := read(t, br); code != 404 || h.Get("Connection") == "close" {
		t.Fatalf("unknown host: %d %v, want 404 on a kept connection", code, h)
	}
	io.WriteString(c, "GET / HTTP/1.1\r\n\r\n") // no Host
	code, body, _ := read(t, br)
	if code != 400 || !strings.HasPrefix(body, "Bad Request: ") {
		t.Fatalf("no Host: %d %q, want 400", code, body)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after a 400 the connection is closed, got %v", err)
	}
	c2, br2 := dial(t, addr)
	io.WriteString(c2, get("/chunked", "acme.test"))
	if code, _, _ := read(t, br2); code != 502 {
		t.Fatalf("chunked answer: %d, want 502", code)
	}
}

func TestForwardedFor(t *testing.T) {
	addr := startProxy(t, 1, nil)
	c, br := dial(t, addr)
	// An untrusted client's own X-Forwarded-For is dropped.
	io.WriteString(c, "GET /xff HTTP/1.1\r\nHost: acme.test\r\nX-Forwarded-For: 6.6.6.6\r\nX-Request-Id: mine\r\n\r\n")
	ip, _, _ := net.SplitHostPort(c.LocalAddr().String())
	code, body, _ := read(t, br)
	f := strings.Split(body, "|")
	if len(f) != 4 {
		t.Fatalf("got %d %q", code, body)
	}
	// 16 hex digits, "-", at least one.
	if n, _ := strconv.Atoi(f[3]); code != 200 || f[0] != ip || f[1] != "http" || f[2] != "acme.test" || n < 18 {
		t.Fatalf("got %d %q, want X-Forwarded-For %s, proto http, host acme.test, the proxy's request id", code, body, ip)
	}
}

// A large answer to a client that does not read at first: the proxy's
// sends find the socket full and wait for EPOLLOUT.
func TestSlowReader(t *testing.T) {
	addr := startProxy(t, 1, nil)
	c, br := dial(t, addr)
	io.WriteString(c, get("/big", "acme.test")+get("/after", "acme.test"))
	time.Sleep(300 * time.Millisecond)
	code, body, _ := read(t, br)
	if code != 200 || body != strings.Repeat("0123456789abcdef", 1<<18) {
		t.Fatalf("big: %d, %d bytes", code, len(body))
	}
	if code, body, _ := read(t, br); code != 200 || body != "/after" {
		t.Fatalf("after big: %d %q", code, body)
	}
}

// The app closes idle connections; the next request still gets its
// answer (the pooled connection is dropped or the request sent again).
func TestAppClosesIdle(t *testing.T) {
	addr := startProxy(t, 1, &http.Server{IdleTimeout: 50 * time.Millisecond})
	c, br := dial(t, addr)
	for i := range 3 {
		io.WriteString(c, get("/idle", "acme.test"))
		if code, body, _ := read(t, br); code != 200 || body != "/idle" {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
		time.Sleep(150 * time.Millisecond)
	}
}
