package router

import (
	"bytes"
	"crypto/sha1"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// What the loops serve themselves, they pool the app connection in their
// own pools (upstream.loopIdle); what they hand over ends in the
// goroutine path's (upstream.idle). Each case says which it must be.
func TestLoopServesOrHandsOver(t *testing.T) {
	f := newFixture(t, Config{Loops: 2}, mkSet(app("acme", "web", "/", "acme.test")))
	f.backend("acme", "web", 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			io.WriteString(w, "a")
			w.(http.Flusher).Flush()
			io.WriteString(w, "b")
			return
		}
		io.WriteString(w, "ok")
	}))
	up := f.rt.Table().apps[0].ups[0]
	for _, tc := range []struct {
		name, req string
		loop      bool // the loop pooled the app connection
	}{
		{"GET", "GET / HTTP/1.1\r\nHost: acme.test\r\n\r\n", true},
		{"HEAD, HTTP/1.0 keep-alive", "HEAD / HTTP/1.0\r\nHost: acme.test\r\nConnection: keep-alive\r\n\r\n", true},
		{"a body", "POST / HTTP/1.1\r\nHost: acme.test\r\nContent-Length: 2\r\n\r\nhi", false},
		{"a chunked answer", "GET /chunked HTTP/1.1\r\nHost: acme.test\r\n\r\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up.reap(0, true)
			deadline := time.Now().Add(2 * time.Second)
			for up.loopIdle.Load() != 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond) // the loops drop what they pooled at their next look
			}
			r := f.dialRaw(t)
			r.send(tc.req)
			if resp, _ := r.response(tc.req[:4]); resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			up.mu.Lock()
			goroutine := len(up.idle)
			up.mu.Unlock()
			if loop := up.loopIdle.Load(); (loop == 1) != tc.loop || (goroutine == 1) == tc.loop {
				t.Fatalf("pooled by the loops %d, by the goroutine path %d; want the loop's: %v", loop, goroutine, tc.loop)
			}
		})
	}
}

// A large answer with a length, to a client that reads late: the loop
// waits for room (EPOLLOUT), relays all of it, and the connection serves
// the next request.
func TestLoopLargeAnswerToLateReader(t *testing.T) {
	f := newFixture(t, Config{Loops: 1}, mkSet(app("acme", "web", "/", "acme.test")))
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	f.backend("acme", "web", 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			w.Write(big)
			return
		}
		io.WriteString(w, "next")
	}))
	r := f.dialRaw(t)
	r.send("GET /big HTTP/1.1\r\nHost: acme.test\r\n\r\nGET /next HTTP/1.1\r\nHost: acme.test\r\n\r\n")
	time.Sleep(300 * time.Millisecond) // the socket buffers fill up
	resp, body := r.response("GET")
	if resp.StatusCode != 200 || len(body) != len(big) || sha1.Sum([]byte(body)) != sha1.Sum(big) {
		t.Fatalf("big: %d, %d bytes (want %d)", resp.StatusCode, len(body), len(big))
	}
	if resp, body := r.response("GET"); resp.StatusCode != 200 || body != "next" {
		t.Fatalf("next: %d %q", resp.StatusCode, body)
	}
	es := f.log.all()
	if len(es) != 2 || es[0].BytesOut < int64(len(big)) || es[0].Status != 200 {
		t.Fatalf("access log: %s", fmt.Sprint(es))
	}
}
