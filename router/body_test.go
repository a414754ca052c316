package router

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// inflight is the number of requests of tenant holding a slot.
func (f *fixture) inflight(tenant string) int64 {
	f.rt.mu.Lock()
	defer f.rt.mu.Unlock()
	return f.rt.reg.tenants[tenant].inflight.Load()
}

// echoBody answers "LEN:SHA1:CONTENT-LENGTH" of the request body.
func echoBody(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	fmt.Fprintf(w, "%d:%x:%s", len(b), sha1.Sum(b), r.Header.Get("Content-Length"))
}

// Bodies arrive whole and unchanged whether the router buffers them, has
// no budget left to, or never does; a chunked body that fits the prefix
// reaches the app with a Content-Length.
func TestBodyBuffering(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	for _, mode := range []struct {
		name   string
		budget int64
	}{{"buffered", 0}, {"no budget left", 1}, {"never buffered", -1}} {
		t.Run(mode.name, func(t *testing.T) {
			f := newFixture(t, Config{MaxBufferedBodyBytes: mode.budget}, mkSet(app("acme", "web", "/", "acme.test")))
			f.backend("acme", "web", 0, http.HandlerFunc(echoBody))
			c := f.client()
			for _, n := range []int{1, 4 << 10, bodyPrefix, bodyPrefix + 1, len(big)} {
				for _, chunked := range []bool{false, true} {
					var body io.Reader = bytes.NewReader(big[:n])
					cl := int64(n)
					if chunked {
						body, cl = io.MultiReader(body), -1
					}
					req, _ := http.NewRequest("POST", "http://acme.test/", body)
					req.ContentLength = cl
					resp, err := c.Do(req)
					if err != nil {
						t.Fatalf("%d bytes, chunked %v: %v", n, chunked, err)
					}
					got, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					want := fmt.Sprintf("%d:%x:", n, sha1.Sum(big[:n]))
					if !chunked || mode.budget == 0 && n < bodyPrefix {
						want += fmt.Sprint(n)
					}
					if resp.StatusCode != 200 || string(got) != want {
						t.Fatalf("%d bytes, chunked %v: %d %q, want %q", n, chunked, resp.StatusCode, got, want)
					}
				}
			}
			if b := f.rt.buffered.Load(); b != 0 {
				t.Fatalf("%d buffered bytes left accounted", b)
			}
		})
	}
}

// Expect: 100-continue is answered by the router when it buffers the body
// itself.
func TestBufferedExpectContinue(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("acme", "web", "/", "acme.test")))
	f.backend("acme", "web", 0, http.HandlerFunc(echoBody))
	c, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: acme.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	br := bufio.NewReader(c)
	if line, _ := br.ReadString('\n'); line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("got %q", line)
	}
	br.ReadString('\n')
	io.WriteString(c, "hello")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if want := fmt.Sprintf("5:%x:5", sha1.Sum([]byte("hello"))); resp.StatusCode != 200 || string(b) != want {
		t.Fatalf("%d %q", resp.StatusCode, b)
	}
}

// A body that stalls or trickles is cut with 408, within about
// BodyTimeout of falling behind the minimum rate, and gives its slot back;
// a slow but steady one passes.
func TestSlowBodies(t *testing.T) {
	const timeout = time.Second
	chunk := strings.Repeat("x", 16<<10)
	for _, tc := range []struct {
		name string
		head string
		// send writes the body (or part of it) and returns.
		send     func(c net.Conn)
		want     string
		slotHeld bool // the request holds a slot while its body stalls
	}{
		{"small body stalls", "Content-Length: 1000", func(c net.Conn) { io.WriteString(c, "x") }, "HTTP/1.1 408", false},
		{"large body stalls after the prefix", "Content-Length: 1000000", func(c net.Conn) {
			for i := 0; i < 5; i++ {
				io.WriteString(c, chunk)
			}
		}, "HTTP/1.1 408", true},
		{"chunked body stalls", "Transfer-Encoding: chunked", func(c net.Conn) { io.WriteString(c, "5\r\nhello\r\n") }, "HTTP/1.1 408", true},
		{"small body trickles", "Content-Length: 1000", func(c net.Conn) {
			for i := 0; i < 30; i++ {
				if _, err := io.WriteString(c, "x"); err != nil {
					return
				}
				time.Sleep(200 * time.Millisecond)
			}
		}, "HTTP/1.1 408", false},
		{"slow but steady upload", "Content-Length: 196608", func(c net.Conn) {
			for i := 0; i < 12; i++ {
				io.WriteString(c, chunk)
				time.Sleep(150 * time.Millisecond)
			}
		}, "HTTP/1.1 200", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, Config{BodyTimeout: timeout, BodyMinRate: 10 << 10}, mkSet(app("acme", "web", "/", "acme.test")))
			f.backend("acme", "web", 0, http.HandlerFunc(echoBody))
			c, err := net.Dial("tcp", f.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			start := time.Now()
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: acme.test\r\n"+tc.head+"\r\n\r\n")
			tc.send(c)
			if tc.slotHeld {
				time.Sleep(bodyPause + 100*time.Millisecond)
				if n := f.inflight("acme"); n != 1 {
					t.Errorf("slots held while streaming: %d", n)
				}
			} else if n := f.inflight("acme"); n != 0 {
				t.Errorf("slots held while buffering: %d", n)
			}
			line, err := bufio.NewReader(c).ReadString('\n')
			d := time.Since(start)
			if !strings.HasPrefix(line, tc.want) {
				t.Fatalf("got %q (%v) after %s, want %s", line, err, d, tc.want)
			}
			if tc.want == "HTTP/1.1 408" && d > 4*timeout {
				t.Fatalf("cut after %s", d)
			}
			for i := 0; f.inflight("acme") != 0; i++ {
				if i > 100 {
					t.Fatal("the slot was not given back")
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// Requests whose body is still arriving get at most half of a tenant's
// slots, from however many connections.
func TestStreamingShare(t *testing.T) {
	f := newFixture(t, Config{TenantMaxInFlight: 4, ClientMaxInFlight: -1, AccessLog: discardLog{}}, mkSet(app("acme", "web", "/", "acme.test")))
	f.backend("acme", "web", 0, http.HandlerFunc(echoBody))
	var lines []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", f.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: acme.test\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n")
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			mu.Lock()
			lines = append(lines, strings.TrimSpace(line))
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(lines) != 3 || lines[0] != "HTTP/1.1 503 Service Unavailable" || lines[1] != "" || lines[2] != "" {
		t.Fatalf("answers within 2s: %q, want one 503", lines)
	}
	if code, _, _ := f.get(f.client(), "http://acme.test/"); code != 200 {
		t.Fatalf("a plain request: %d", code)
	}
}

// One client address cannot fill the tenant's cap: past ClientMaxInFlight
// it gets 429, and another address is still served. Without the limit
// the same load leaves the other address 503.
func TestClientCap(t *testing.T) {
	for _, tc := range []struct {
		name                      string
		clientMax, sent           int
		wantSame, wantOther, held int
	}{
		{"limited", 3, 8, 429, 200, 3},
		{"off", -1, 8, 503, 503, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Config{TenantMaxInFlight: 8, ClientMaxInFlight: tc.clientMax, AccessLog: discardLog{}}, mkSet(app("acme", "web", "/", "acme.test")))
			release := make(chan struct{})
			f.backend("acme", "web", 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/slow" {
					<-release
				}
				io.WriteString(w, "ok")
			}))
			ca := f.client()
			var wg sync.WaitGroup
			for i := 0; i < tc.sent; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if resp, err := ca.Get("http://acme.test/slow"); err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}()
			}
			defer func() { close(release); wg.Wait() }()
			for i := 0; f.inflight("acme") < int64(tc.held); i++ {
				if i > 200 {
					t.Fatalf("%d in flight, want %d", f.inflight("acme"), tc.held)
				}
				time.Sleep(10 * time.Millisecond)
			}
			code, _, hdr := f.get(ca, "http://acme.test/")
			if code != tc.wantSame || hdr.Get("Retry-After") == "" {
				t.Fatalf("same address: %d (Retry-After %q), want %d", code, hdr.Get("Retry-After"), tc.wantSame)
			}
			if code, _, _ := f.get(f.clientFrom("127.0.0.2"), "http://acme.test/"); code != tc.wantOther {
				t.Fatalf("other address: %d, want %d", code, tc.wantOther)
			}
		})
	}
}

func TestClientKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::9", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"@", "@"},
		{"", ""},
	} {
		if got := clientKey(tc.in); got != tc.want {
			t.Errorf("clientKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
