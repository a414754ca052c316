package router

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestForwardBasic(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("acme", "web", "/", "acme.test"), app("beta", "web", "/", "beta.test")))
	f.backend("acme", "web", 0, hello("acme"))
	f.backend("beta", "web", 0, hello("beta"))
	c := f.client()
	for i := 0; i < 3; i++ {
		for _, tn := range []string{"acme", "beta"} {
			code, body, _ := f.get(c, "http://"+tn+".test/x")
			if code != 200 || body != "hello from "+tn {
				t.Fatalf("%s: got %d %q", tn, code, body)
			}
		}
	}
	// kept-alive upstream connections were reused
	if n := f.rt.Table().apps[0].ups[0].idleCount(); n != 1 {
		t.Errorf("acme pool holds %d connections, want 1", n)
	}
}

func TestUnknownHost404(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("acme", "web", "/", "acme.test")))
	f.backend("acme", "web", 0, hello("acme"))
	c := f.client()
	for _, u := range []string{"http://other.test/", "http://sub.acme.test/", "http://127.0.0.1/"} {
		code, body, h := f.get(c, u)
		if code != 404 || strings.Contains(body, "acme") || body != "404 Not Found\n" {
			t.Fatalf("%s: %d %q", u, code, body)
		}
		if h.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Fatalf("content-type %q", h.Get("Content-Type"))
		}
	}
	// HTTP/1.0 without Host
	if got := f.raw("GET / HTTP/1.0\r\n\r\n"); got != "HTTP/1.1 404 Not Found" {
		t.Fatalf("no Host: %q", got)
	}
	es := f.log.all()
	if len(es) == 0 || es[0].Tenant != "" || es[0].Status != 404 {
		t.Fatalf("access log: %+v", es)
	}
}

// echoHeaders answers with the request's method, URI, Host and headers as JSON.
func echoHeaders() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("Connection", "X-Secret")
		w.Header().Set("X-Secret", "hop")
		w.Header().Set("X-App", "yes")
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "uri": r.RequestURI, "host": r.Host, "header": r.Header})
	})
}

func TestForwardedHeaders(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("acme", "web", "/", "acme.test")))
	f.backend("acme", "web", 0, echoHeaders())
	req, _ := http.NewRequest("GET", "http://ACME.test:8080/p/a%20b?q=1&r=%2F", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	req.Header.Set("X-Forwarded-Proto", "https") // a client's claim, overwritten
	req.Header.Set("X-Forwarded-Host", "evil.test")
	req.Header.Set("X-Custom", "kept")
	req.Header.Set("Connection", "keep-alive, X-Drop")
	req.Header.Set("X-Drop", "dropped")
	req.Header.Set("Keep-Alive", "timeout=1")
	req.Header.Set("Proxy-Authorization", "Basic x")
	req.Header.Set("Te", "trailers")
	resp, err := f.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Method, URI, Host string
		Header            http.Header
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Host != "ACME.test:8080" || got.URI != "/p/a%20b?q=1&r=%2F" || got.Method != "GET" {
		t.Errorf("host %q uri %q method %q", got.Host, got.URI, got.Method)
	}
	h := got.Header
	want := map[string]string{
		"X-Forwarded-For":   "127.0.0.1",
		"X-Forwarded-Proto": "http",
		"X-Forwarded-Host":  "ACME.test:8080",
		"X-Custom":          "kept",
	}
	for k, v := range want {
		if h.Get(k) != v || len(h[k]) != 1 {
			t.Errorf("%s = %q, want %q", k, h[k], v)
		}
	}
	for _, k := range []string{"X-Drop", "Keep-Alive", "Proxy-Authorization", "Te"} {
		if _, ok := h[k]; ok {
			t.Errorf("hop-by-hop %s forwarded: %q", k, h[k])
		}
	}
	// response side
	for _, k := range []string{"Keep-Alive", "X-Secret"} {
		if v := resp.Header.Get(k); v != "" {
			t.Errorf("response hop-by-hop %s passed: %q", k, v)
		}
	}
	if resp.Header.Get("X-App") != "yes" || strings.Join(resp.Header["Set-Cookie"], ";") != "a=1;b=2" {
		t.Errorf("response headers: %v", resp.Header)
	}
}

func TestBodiesAndMethods(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("acme", "web", "/", "acme.test")))
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	f.backend("acme", "web", 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			b, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			fmt.Fprintf(w, "%d:%x:%s", len(b), sha1.Sum(b), r.Header.Get("Content-Length"))
		case "/big":
			w.Write(big) // > buffer: chunked from the app
		case "/empty":
			w.WriteHeader(204)
		case "/untyped":
			w.Header()["Content-Type"] = nil
			io.WriteString(w, "<html>not sniffed</html>")
		case "/early":
			http.Error(w, "no thanks", 403) // does not read the body
		default:
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		}
	}))
	c := f.client()
	post := func(path string, body io.Reader, n int64) (int, string) {
		req, _ := http.NewRequest("POST", "http://acme.test"+path, body)
		req.ContentLength = n
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, n := range []int{0, 1, 1000, 100 << 10, len(big)} {
		code, got := post("/echo", bytes.NewReader(big[:n]), int64(n))
		want := fmt.Sprintf("%d:%x:", n, sha1.Sum(big[:n]))
		if code != 200 || !strings.HasPrefix(got, want) {
			t.Fatalf("echo %d: %d %q", n, code, got)
		}
		// chunked (unknown length) upload
		code, got = post("/echo", io.MultiReader(bytes.NewReader(big[:n])), -1)
		if code != 200 || !strings.HasPrefix(got, want) {
			t.Fatalf("chunked echo %d: %d %q", n, code, got)
		}
	}
	code, body, _ := f.get(c, "http://acme.test/big")
	if code != 200 || body != string(big) {
		t.Fatalf("big: %d, %d bytes", code, len(body))
	}
	resp, err := c.Head("http://acme.test/")
	if err != nil || resp.StatusCode != 200 || resp.ContentLength != 5 {
		t.Fatalf("HEAD: %v %v", resp, err)
	}
	resp.Body.Close()
	code, body, hdr := f.get(c, "http://acme.test/untyped")
	if code != 200 || body != "<html>not sniffed</html>" || hdr["Content-Type"] != nil {
		t.Fatalf("untyped: %d %q %v", code, body, hdr)
	}
	code, body, _ = f.get(c, "http://acme.test/empty")
	if code != 204 || body != "" {
		t.Fatalf("204: %d %q", code, body)
	}
	code, body = post("/early", bytes.NewReader(big), int64(len(big)))
	if code != 403 || body != "no thanks\n" {
		t.Fatalf("early answer: %d %q", code, body)
	}
	// the router still works after all that
	if code, body, _ := f.get(c, "http://acme.test/"); code != 200 || body != "hello" {
		t.Fatalf("after: %d %q", code, body)
	}
}

func TestStreaming(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("acme", "web", "/", "acme.test")))
	next := make(chan struct{})
	f.backend("acme", "web", 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/sse":
			w.Header().Set("Content-Type", "text/event-stream")
			for i := 1; i <= 3; i++ {
				fmt.Fprintf(w, "data: %d\n\n", i)
				w.(http.Flusher).Flush()
				select {
				case <-next: // the client must have seen event i first
				case <-time.After(5 * time.Second):
					return
				}
			}
		case "/duplex":
			http.NewResponseController(w).EnableFullDuplex()
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			sc := bufio.NewScanner(r.Body)
			for sc.Scan() {
				fmt.Fprintf(w, "echo %s\n", sc.Text())
				w.(http.Flusher).Flush()
			}
		}
	}))
	c := f.client()
	resp, err := c.Get("http://acme.test/sse")
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	for i := 1; i <= 3; i++ {
		line, err := br.ReadString('\n')
		if err != nil || line != fmt.Sprintf("data: %d\n", i) {
			t.Fatalf("event %d: %q %v", i, line, err)
		}
		br.ReadString('\n')
		next <- struct{}{}
	}
	resp.Body.Close()

	// request and response streamed at once
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", "http://acme.test/duplex", pr)
	done := make(chan *http.Response, 1)
	go func() {
		resp, err := c.Do(req)
		if err != nil {
			t.Error(err)
			close(done)
			return
		}
		done <- resp
	}()
	io.WriteString(pw, "one\n")
	resp = <-done
	if resp == nil {
		t.FailNow()
	}
	defer resp.Body.Close()
	br = bufio.NewReader(resp.Body)
	for _, w := range []string{"one", "two", "three"} {
		if w != "one" {
			io.WriteString(pw, w+"\n")
		}
		line, err := br.ReadString('\n')
		if err != nil || line != "echo "+w+"\n" {
			t.Fatalf("duplex %s: %q %v", w, line, err)
		}
	}
	pw.Close()
	if rest, _ := io.ReadAll(br); len(rest) != 0 {
		t.Fatalf("trailing %q", rest)
	}
}

// wsAccept is the Sec-WebSocket-Accept for key (RFC 6455 §4.2.2).
func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// wsEcho is a minimal WebSocket echo server: text/binary frames are sent
// back, a close frame ends it.
func wsEcho(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || r.Header.Get("Sec-Websocket-Key") == "" {
			http.Error(w, "not a websocket request", 400)
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", wsAccept(r.Header.Get("Sec-Websocket-Key")))
		brw.Flush()
		for {
			op, payload, err := wsRead(brw.Reader)
			if err != nil || op == 8 {
				wsWrite(c, 8, nil, false)
				return
			}
			if err := wsWrite(c, op, payload, false); err != nil {
				return
			}
		}
	})
}

func wsRead(r *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return
	}
	op = h[0] & 0x0f
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err = io.ReadFull(r, b[:]); err != nil {
			return
		}
		n = int(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err = io.ReadFull(r, b[:]); err != nil {
			return
		}
		n = int(binary.BigEndian.Uint64(b[:]))
	}
	var mask [4]byte
	masked := h[1]&0x80 != 0
	if masked {
		if _, err = io.ReadFull(r, mask[:]); err != nil {
			return
		}
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(r, payload); err != nil {
		return
	}
	if masked {
		for i := range payload {
			payload[i] ^= mask[i%4]
		}
	}
	return
}

func wsWrite(w io.Writer, op byte, payload []byte, mask bool) error {
	b := []byte{0x80 | op}
	m := byte(0)
	if mask {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, m|byte(n))
	case n < 1<<16:
		b = append(b, m|126, byte(n>>8), byte(n))
	default:
		b = append(b, m|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	p := payload
	if mask {
		k := [4]byte{1, 2, 3, 4}
		b = append(b, k[:]...)
		p = make([]byte, len(payload))
		for i := range payload {
			p[i] = payload[i] ^ k[i%4]
		}
	}
	_, err := w.Write(append(b, p...))
	return err
}

func TestWebSocketEcho(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("acme", "chat", "/", "chat.test")))
	f.backend("acme", "chat", 0, wsEcho(t))
	c, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: chat.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", key)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Sec-Websocket-Accept") != wsAccept(key) ||
		!strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") || !strings.EqualFold(resp.Header.Get("Connection"), "upgrade") {
		t.Fatalf("handshake: %d %v", resp.StatusCode, resp.Header)
	}
	for i, msg := range []string{"hello", strings.Repeat("x", 300), strings.Repeat("y", 70000)} {
		if i == 1 {
			time.Sleep(300 * time.Millisecond) // a quiet tunnel stays open
		}
		if err := wsWrite(c, 1, []byte(msg), true); err != nil {
			t.Fatal(err)
		}
		op, got, err := wsRead(br)
		if err != nil || op != 1 || string(got) != msg {
			t.Fatalf("echo of %d bytes: op %d, %d bytes, %v", len(msg), op, len(got), err)
		}
	}
	// An open WebSocket counts as in flight for idle tracking.
	if a := f.rt.Activity(); len(a) != 1 || a[0].InFlight != 1 {
		t.Fatalf("activity during websocket: %+v", a)
	}
	wsWrite(c, 8, nil, true)
	if op, _, err := wsRead(br); err != nil || op != 8 {
		t.Fatalf("close: %d %v", op, err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for f.rt.Activity()[0].InFlight != 0 {
		if time.Now().After(deadline) {
			t.Fatal("websocket still in flight after close")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLimits413And431(t *testing.T) {
	f := newFixture(t, Config{MaxBodyBytes: 1000, MaxHeaderBytes: 2048}, mkSet(app("acme", "web", "/", "acme.test")))
	var calls atomic.Int64
	f.backend("acme", "web", 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d", len(b))
	}))
	c := f.client()
	do := func(body io.Reader, n int64) int {
		req, _ := http.NewRequest("POST", "http://acme.test/", body)
		req.ContentLength = n
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := do(strings.NewReader(strings.Repeat("a", 1000)), 1000); code != 200 {
		t.Fatalf("at the limit: %d", code)
	}
	if code := do(strings.NewReader(strings.Repeat("a", 1001)), 1001); code != 413 {
		t.Fatalf("declared over the limit: %d", code)
	}
	if code := do(io.MultiReader(strings.NewReader(strings.Repeat("a", 5000))), -1); code != 413 {
		t.Fatalf("chunked over the limit: %d", code)
	}
	if got := f.raw("GET / HTTP/1.1\r\nHost: acme.test\r\nX-Big: " + strings.Repeat("b", 8000) + "\r\n\r\n"); got != "HTTP/1.1 431 Request Header Fields Too Large" {
		t.Fatalf("big header: %q", got)
	}
	if n := calls.Load(); n != 2 { // the 1000-byte one and the chunked one (cut)
		t.Logf("app calls: %d", n)
	}
}

func TestMalformedRequests(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("acme", "web", "/", "acme.test")))
	f.backend("acme", "web", 0, hello("acme"))
	for req, want := range map[string]string{
		"GARBAGE\r\n\r\n": "HTTP/1.1 400 Bad Request",
		"GET /\r\n\r\n":   "HTTP/1.1 400 Bad Request",
		"GET / HTTP/9.9\r\nHost: acme.test\r\n\r\n":                                              "HTTP/1.1 505 HTTP Version Not Supported",
		"GET / HTTP/1.1\r\n\r\n":                                                                 "HTTP/1.1 400 Bad Request",
		"GET / HTTP/1.1\r\nHost: acme.test\r\nBad Header\r\n\r\n":                                "HTTP/1.1 400 Bad Request",
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n":                                           "HTTP/1.1 400 Bad Request",
		"POST / HTTP/1.1\r\nHost: acme.test\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab": "HTTP/1.1 400 Bad Request",
		"POST / HTTP/1.1\r\nHost: acme.test\r\nTransfer-Encoding: gzip\r\n\r\n":                  "HTTP/1.1 501 Not Implemented",
		"GET / HTTP/1.1\r\nHost: acme.test\r\n\r\n":                                              "HTTP/1.1 200 OK",
	} {
		if got := f.raw(req); !strings.HasPrefix(got, want) {
			t.Errorf("%q: got %q, want %q", req, got, want)
		}
	}
}

func TestUpstreamErrors(t *testing.T) {
	f := newFixture(t, Config{StartTimeout: 300 * time.Millisecond}, mkSet(
		app("gone", "web", "/", "gone.test"),
		app("stuck", "web", "/", "stuck.test"),
		app("cold", "web", "/", "cold.test"),
		app("ok", "web", "/", "ok.test"),
	))
	f.backend("ok", "web", 0, hello("ok"))
	// stuck: the socket listens but nobody accepts (a start that hangs)
	os.MkdirAll(filepath.Join(f.runDir, "stuck"), 0o755)
	sl, err := net.Listen("unix", filepath.Join(f.runDir, "stuck", "web.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer sl.Close()
	c := f.client()
	code, body, h := f.get(c, "http://gone.test/")
	if code != 502 || body != "502 Bad Gateway\n" {
		t.Fatalf("missing socket: %d %q", code, body)
	}
	start := time.Now()
	code, _, h = f.get(c, "http://stuck.test/")
	if code != 503 || h.Get("Retry-After") == "" {
		t.Fatalf("start timeout: %d %v", code, h)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 3*time.Second {
		t.Fatalf("start timeout after %s", d)
	}
	// other tenants are unaffected
	if code, body, _ := f.get(c, "http://ok.test/"); code != 200 || body != "hello from ok" {
		t.Fatalf("ok: %d %q", code, body)
	}
}

// A cold app: the socket exists (systemd listens) and the app accepts
// only when it is up, 400 ms later. The request waits and succeeds.
func TestColdStartIsHeld(t *testing.T) {
	f := newFixture(t, Config{StartTimeout: 5 * time.Second}, mkSet(app("cold", "web", "/", "cold.test")))
	path := filepath.Join(f.runDir, "cold", "web.sock")
	os.MkdirAll(filepath.Dir(path), 0o755)
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: hello("cold")}
	defer srv.Close()
	go func() {
		time.Sleep(400 * time.Millisecond)
		srv.Serve(l)
	}()
	start := time.Now()
	code, body, _ := f.get(f.client(), "http://cold.test/")
	if code != 200 || body != "hello from cold" {
		t.Fatalf("%d %q", code, body)
	}
	if d := time.Since(start); d < 350*time.Millisecond {
		t.Fatalf("answered after %s", d)
	}
}

// Pooled connections the app closed are detected or retried: spaced
// requests to an app with a short keep-alive timeout all succeed.
func TestStalePooledConnections(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("acme", "web", "/", "acme.test")))
	serveUnixServer(t, filepath.Join(f.runDir, "acme", "web.sock"), &http.Server{Handler: hello("acme"), IdleTimeout: 30 * time.Millisecond})
	c := f.client()
	for i := 0; i < 6; i++ {
		if code, _, _ := f.get(c, "http://acme.test/"); code != 200 {
			t.Fatalf("request %d: %d", i, code)
		}
		time.Sleep(60 * time.Millisecond)
	}
}

func TestWorkerBalancing(t *testing.T) {
	a := app("acme", "web", "/", "acme.test")
	a.Workers = 3
	f := newFixture(t, Config{}, mkSet(a))
	var mu sync.Mutex
	count := map[int]int{}
	for i := 1; i <= 3; i++ {
		f.backend("acme", "web", i, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			count[i]++
			mu.Unlock()
			if r.URL.Path == "/slow" {
				time.Sleep(20 * time.Millisecond)
			}
			fmt.Fprint(w, i)
		}))
	}
	c := f.client()
	for i := 0; i < 90; i++ {
		f.get(c, "http://acme.test/")
	}
	if count[1] != 30 || count[2] != 30 || count[3] != 30 {
		t.Fatalf("sequential: %v, want 30 each", count)
	}
	clear(count)
	var wg sync.WaitGroup
	for g := 0; g < 9; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				f.get(c, "http://acme.test/slow")
			}
		}()
	}
	wg.Wait()
	for i := 1; i <= 3; i++ {
		if count[i] < 15 {
			t.Fatalf("concurrent: %v, a worker got too little", count)
		}
	}
}

func TestAccessLogEntries(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("acme", "web", "/", "acme.test")))
	f.backend("acme", "web", 0, hello("acme"))
	f.get(f.client(), "http://acme.test/some/path?q=1")
	es := f.log.all()
	if len(es) != 1 {
		t.Fatalf("%d entries", len(es))
	}
	e := es[0]
	if e.Tenant != "acme" || e.App != "web" || e.Status != 200 || e.Method != "GET" || e.Host != "acme.test" || e.Path != "/some/path" || e.Duration <= 0 {
		t.Fatalf("entry %+v", e)
	}
	var buf bytes.Buffer
	l := NewAccessLog(&buf)
	l.Log(e)
	l.Log(AccessEntry{Time: e.Time, Method: "GET", Host: "x\ny", Path: "/a b", Status: 404, Duration: 1500 * time.Microsecond})
	l.Close()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], " tenant=acme app=web method=GET host=acme.test path=/some/path status=200 duration_ms=") ||
		!strings.Contains(lines[1], ` method=GET host="x\ny" path="/a b" status=404 duration_ms=1.500`) {
		t.Fatalf("text log:\n%s", buf.String())
	}
}

// Slow answers (past the router's short first wait) on fresh and pooled
// connections, and a stream with pauses, all arrive.
func TestSlowResponsesAndPauses(t *testing.T) {
	f := newFixture(t, Config{StartTimeout: 2 * time.Second}, mkSet(app("acme", "web", "/", "acme.test")))
	f.backend("acme", "web", 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			time.Sleep(250 * time.Millisecond)
			io.WriteString(w, "slow")
		case "/pauses":
			for i := 0; i < 3; i++ {
				fmt.Fprintf(w, "part %d\n", i)
				w.(http.Flusher).Flush()
				time.Sleep(250 * time.Millisecond)
			}
		}
	}))
	c := f.client()
	for i := 0; i < 2; i++ { // fresh, then pooled
		if code, body, _ := f.get(c, "http://acme.test/slow"); code != 200 || body != "slow" {
			t.Fatalf("slow %d: %d %q", i, code, body)
		}
	}
	if code, body, _ := f.get(c, "http://acme.test/pauses"); code != 200 || body != "part 0\npart 1\npart 2\n" {
		t.Fatalf("pauses: %d %q", code, body)
	}
}

// A client that leaves while the app works makes the router drop the
// upstream request (the app sees its request canceled).
func TestClientGoneAbortsUpstream(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("acme", "web", "/", "acme.test")))
	canceled := make(chan time.Duration, 1)
	f.backend("acme", "web", 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		select {
		case <-r.Context().Done():
			canceled <- time.Since(start)
		case <-time.After(5 * time.Second):
			canceled <- -1
		}
	}))
	c, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /wait HTTP/1.1\r\nHost: acme.test\r\n\r\n")
	time.Sleep(300 * time.Millisecond)
	c.Close()
	if d := <-canceled; d < 0 || d > 2*time.Second {
		t.Fatalf("the app's request was not canceled (%s)", d)
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(f.log.all()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if es := f.log.all(); len(es) != 1 || es[0].Status != 499 {
		t.Fatalf("access log: %+v", es)
	}
}

// The watch of the client also starts on a pooled app connection whose
// read deadline from the previous exchange was kept (uconn.armRead): a
// client that leaves while the app works on its second request cancels
// it.
func TestClientGoneAbortsUpstreamOnPooledConnection(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("acme", "web", "/", "acme.test")))
	canceled := make(chan time.Duration, 1)
	f.backend("acme", "web", 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/wait" {
			io.WriteString(w, "fast")
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
	r := f.dialRaw(t)
	r.send("GET /fast HTTP/1.1\r\nHost: acme.test\r\n\r\n")
	if _, body := r.response("GET"); body != "fast" {
		t.Fatalf("first request: %q", body)
	}
	r.send("GET /wait HTTP/1.1\r\nHost: acme.test\r\n\r\n")
	time.Sleep(300 * time.Millisecond)
	r.c.Close()
	if d := <-canceled; d < 0 || d > 2*time.Second {
		t.Fatalf("the app's request was not canceled (%s)", d)
	}
}

// A pooled connection idle for longer than the probe threshold is checked
// and reused, not replaced; one the app closed is replaced.
func TestPooledConnectionProbe(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("acme", "web", "/", "acme.test")))
	var conns atomic.Int64
	var mu sync.Mutex
	var last net.Conn
	serveUnixServer(t, filepath.Join(f.runDir, "acme", "web.sock"), &http.Server{
		Handler: hello("acme"),
		ConnState: func(c net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
				mu.Lock()
				last = c
				mu.Unlock()
			}
		},
	})
	c := f.client()
	f.get(c, "http://acme.test/")
	time.Sleep(1200 * time.Millisecond)
	if code, _, _ := f.get(c, "http://acme.test/"); code != 200 || conns.Load() != 1 {
		t.Fatalf("after idling: %d, %d app connections", code, conns.Load())
	}
	mu.Lock()
	last.Close() // the app drops the kept-alive connection
	mu.Unlock()
	time.Sleep(1200 * time.Millisecond)
	if code, _, _ := f.get(c, "http://acme.test/"); code != 200 || conns.Load() != 2 {
		t.Fatalf("after the app closed: %d, %d app connections", code, conns.Load())
	}
}
