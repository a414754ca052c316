package router

import (
	"math/rand"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/manifest"
)

// Heads that serveRaw cannot take whole from its buffer: empty lines
// before the request line with the rest still to come, a head larger than
// the read buffer (serveLoop takes over), each followed by a plain
// request on the same connection.
func TestRawServeHeadsInPieces(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("acme", "web", "/", "acme.test")))
	f.backend("acme", "web", 0, echoApp())
	big := "X-Big: " + strings.Repeat("b", 6000) + "\r\n" // more than clientReadBuf
	for _, tc := range []struct {
		name  string
		parts []string
		want  string
	}{
		{"empty lines first", []string{"\r\n\r\n", "GET /1 HTTP/1.1\r\nHost: acme.test\r\n", "\r\n"}, "GET acme.test /1 body="},
		{"byte by byte", strings.Split("GET /2 HTTP/1.1\r\nHost: acme.test\r\n\r\n", ""), "GET acme.test /2 body="},
		{"larger than the buffer", []string{"GET /3 HTTP/1.1\r\nHost: acme.test\r\n" + big[:3000], big[3000:] + "\r\n"}, "GET acme.test /3 body="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.dialRaw(t)
			defer r.c.Close()
			for _, p := range tc.parts {
				r.send(p)
				time.Sleep(2 * time.Millisecond)
			}
			if resp, body := r.response("GET"); resp.StatusCode != 200 || body != tc.want {
				t.Fatalf("%d %q, want %q", resp.StatusCode, body, tc.want)
			}
			r.send("GET /next HTTP/1.1\r\nHost: acme.test\r\n\r\n")
			if resp, body := r.response("GET"); resp.StatusCode != 200 || body != "GET acme.test /next body=" {
				t.Fatalf("next: %d %q", resp.StatusCode, body)
			}
		})
	}
}

// A TLS handshake stays under the read-header deadline set when the
// connection was accepted, also when its first byte came late (serveRaw
// sees it and hands the connection to serveLoop, which keeps that
// deadline).
func TestTLSHandshakeUnderFirstDeadline(t *testing.T) {
	fc := newFakeCerts(t, "acme.example.com")
	site := app("acme", "site", "/", "acme.example.com")
	site.TLS = manifest.TLS{Mode: manifest.TLSAuto}
	const timeout = 400 * time.Millisecond
	f := newFixture(t, Config{Certs: fc, ReadHeaderTimeout: timeout}, mkSet(site))
	c, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	time.Sleep(timeout * 3 / 4)
	c.Write([]byte{tlsHandshake, 3, 1}) // a record that never completes
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read data")
	}
	if d := time.Since(start); d > timeout+timeout/2 {
		t.Fatalf("closed after %s, the read-header timeout is %s", d, timeout)
	}
}

// Pipelined requests of every kind serveRaw meets (plain, HEAD, with a
// body, which it serves outside its read, with leading empty lines), in
// chunks of random sizes with random pauses: every answer comes, in
// order, and the connection stays usable.
func TestRawServePipelinedChunks(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("acme", "web", "/", "acme.test")))
	f.backend("acme", "web", 0, echoApp())
	rnd := rand.New(rand.NewSource(7))
	for round := 0; round < 20; round++ {
		var stream strings.Builder
		type want struct{ method, body string }
		var wants []want
		for i := 0; i < 12; i++ {
			path := "/" + strconv.Itoa(round) + "/" + strconv.Itoa(i)
			switch rnd.Intn(4) {
			case 0:
				stream.WriteString("GET " + path + " HTTP/1.1\r\nHost: acme.test\r\n\r\n")
				wants = append(wants, want{"GET", "GET acme.test " + path + " body="})
			case 1:
				stream.WriteString("HEAD " + path + " HTTP/1.1\r\nHost: acme.test\r\n\r\n")
				wants = append(wants, want{"HEAD", ""})
			case 2:
				body := strings.Repeat("x", 1+rnd.Intn(3000))
				stream.WriteString("POST " + path + " HTTP/1.1\r\nHost: acme.test\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
				wants = append(wants, want{"POST", "POST acme.test " + path + " body=" + body})
			default:
				stream.WriteString("\r\nGET " + path + " HTTP/1.1\r\nHost: acme.test\r\nX-Pad: " + strings.Repeat("p", rnd.Intn(500)) + "\r\n\r\n")
				wants = append(wants, want{"GET", "GET acme.test " + path + " body="})
			}
		}
		r := f.dialRaw(t)
		go func(s string, seed int64) {
			rnd := rand.New(rand.NewSource(seed))
			for len(s) > 0 {
				n := min(len(s), 1+rnd.Intn(2000))
				r.send(s[:n])
				s = s[n:]
				if rnd.Intn(3) == 0 {
					time.Sleep(time.Duration(rnd.Intn(2000)) * time.Microsecond)
				}
			}
		}(stream.String(), int64(round))
		for i, w := range wants {
			if resp, body := r.response(w.method); resp.StatusCode != 200 || body != w.body {
				t.Fatalf("round %d, request %d: %d %q, want %q", round, i, resp.StatusCode, body[:min(len(body), 80)], w.body[:min(len(w.body), 80)])
			}
		}
		r.c.Close()
	}
}

// Server.Close ends a plain connection whose request a slow app holds,
// before and after the client watch starts: the app's request is
// cancelled (the watch peeks at a duplicate of the socket, which closing
// the connection does not close).
func TestCloseCancelsSlowExchange(t *testing.T) {
	for _, after := range []time.Duration{20 * time.Millisecond, 3 * watchAfter} {
		f := newFixture(t, Config{}, mkSet(app("acme", "web", "/", "acme.test")))
		cancelled := make(chan struct{})
		entered := make(chan struct{}, 1)
		f.backend("acme", "web", 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			entered <- struct{}{}
			select {
			case <-r.Context().Done():
				close(cancelled)
			case <-time.After(10 * time.Second):
			}
		}))
		r := f.dialRaw(t)
		r.send("GET / HTTP/1.1\r\nHost: acme.test\r\n\r\n")
		<-entered
		time.Sleep(after)
		start := time.Now()
		f.srv.Close()
		select {
		case <-cancelled:
		case <-time.After(5 * time.Second):
			t.Fatalf("Close %s into the exchange: the app's request still runs after %s", after, time.Since(start))
		}
	}
}
