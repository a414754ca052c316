package router

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Many keep-alive clients through the router to an app that answers at
// once, after a pause or slowly, with buffered request bodies and large
// responses: every byte arrives, and (without the race detector) no
// small exchange waits for a deadline, which a lost readiness event on the
// app connection would cost: the watch deadline, 100 ms, at the least.
func TestExchangesUnderLoad(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("acme", "web", "/", "acme.test")))
	big := bytes.Repeat([]byte("0123456789"), 30000) // 300 kB: more than a socket takes at once
	f.backend("acme", "web", 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if d, _ := strconv.Atoi(q.Get("sleep")); d > 0 {
			time.Sleep(time.Duration(d) * time.Microsecond)
		}
		if q.Get("big") != "" {
			w.Write(big)
			return
		}
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %d %x", r.Method, r.URL.Path, len(b), crc(b))
	}))
	const clients, rounds = 16, 150
	var wg sync.WaitGroup
	var mu sync.Mutex
	var slow []string
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			rnd := rand.New(rand.NewSource(int64(i)))
			c, err := net.Dial("tcp", f.addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(2 * time.Minute))
			br := bufio.NewReader(c)
			for j := 0; j < rounds; j++ {
				path := "/" + strconv.Itoa(i) + "/" + strconv.Itoa(j)
				var req, want string
				k := rnd.Intn(10)
				switch {
				case k < 5:
					req = "GET " + path + " HTTP/1.1\r\nHost: acme.test\r\n\r\n"
					want = fmt.Sprintf("GET %s 0 %x", path, crc(nil))
				case k < 7:
					req = "GET " + path + "?sleep=" + strconv.Itoa(rnd.Intn(3000)) + " HTTP/1.1\r\nHost: acme.test\r\n\r\n"
					want = fmt.Sprintf("GET %s 0 %x", path, crc(nil))
				case k < 9:
					body := bytes.Repeat([]byte{byte('a' + j%26)}, 1+rnd.Intn(64<<10))
					req = "POST " + path + " HTTP/1.1\r\nHost: acme.test\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body)
					want = fmt.Sprintf("POST %s %d %x", path, len(body), crc(body))
				default:
					req = "GET " + path + "?big=1 HTTP/1.1\r\nHost: acme.test\r\n\r\n"
					want = string(big)
				}
				start := time.Now()
				if _, err := io.WriteString(c, req); err != nil {
					errs <- err
					return
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					errs <- fmt.Errorf("%s kind %d: %v", path, k, err)
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || string(b) != want {
					errs <- fmt.Errorf("%s: %d %q (%v), want %q", path, resp.StatusCode, b[:min(len(b), 80)], err, want[:min(len(want), 80)])
					return
				}
				if d := time.Since(start); k < 9 && d >= watchAfter {
					mu.Lock()
					slow = append(slow, path+" kind "+strconv.Itoa(k)+" "+d.String())
					mu.Unlock()
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// A shared machine may stall a few; a lost event stalls many. The
	// race detector slows everything too much to tell.
	if !raceEnabled && len(slow) > clients*rounds/100 {
		t.Errorf("%d of %d exchanges took longer than the watch deadline: %s", len(slow), clients*rounds, strings.Join(slow[:min(len(slow), 10)], ", "))
	}
}

func crc(b []byte) uint32 {
	var h uint32 = 2166136261
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}

// An app that shuts down its side of a kept-alive connection after each
// response but keeps reading: its EOF arrives while the connection is
// pooled, and the next request on it, written inside the response's read,
// has no readiness event to wake on. The exchange's read deadline ends
// that wait, the EOF is seen, and the request goes again on a fresh
// connection, within about the watch deadline.
func TestAppHalfClosesPooledConnection(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("acme", "web", "/", "acme.test")))
	path := filepath.Join(f.runDir, "acme", "web.sock")
	os.MkdirAll(filepath.Dir(path), 0o755)
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				br := bufio.NewReader(c)
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				time.Sleep(5 * time.Millisecond) // the router has pooled it by then
				c.(*net.UnixConn).CloseWrite()
				io.Copy(io.Discard, br) // reads on, never answers
			}(c)
		}
	}()
	r := f.dialRaw(t)
	for i := 0; i < 5; i++ {
		time.Sleep(20 * time.Millisecond) // the EOF is in
		start := time.Now()
		r.send("GET / HTTP/1.1\r\nHost: acme.test\r\n\r\n")
		if resp, body := r.response("GET"); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("request %d took %s", i, d)
		} else {
			t.Logf("request %d took %s", i, d)
		}
	}
}

// A pipelined request that arrives while the router waits on the app for
// the one before (its readiness event comes in the middle of the
// exchange) is served right after it, not after the idle timeout; and so
// is a client's close.
func TestPipelinedDuringExchange(t *testing.T) {
	f := newFixture(t, Config{IdleTimeout: time.Minute}, mkSet(app("acme", "web", "/", "acme.test")))
	entered := make(chan chan struct{}, 1) // each waiting request's release
	f.backend("acme", "web", 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			release := make(chan struct{})
			entered <- release
			<-release
		}
		io.WriteString(w, r.URL.Path)
	}))
	for _, delay := range []time.Duration{0, 20 * time.Millisecond, 2 * watchAfter} {
		r := f.dialRaw(t)
		r.send("GET /wait HTTP/1.1\r\nHost: acme.test\r\n\r\n")
		release := <-entered
		r.send("GET /next HTTP/1.1\r\nHost: acme.test\r\n\r\n")
		time.Sleep(delay) // the second request is in the router's socket
		start := time.Now()
		close(release)
		for _, want := range []string{"/wait", "/next"} {
			if resp, body := r.response("GET"); resp.StatusCode != 200 || body != want {
				t.Fatalf("delay %s: %d %q, want %q", delay, resp.StatusCode, body, want)
			}
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("delay %s: took %s", delay, d)
		}
		// The client closes while its request is with the app: the
		// router sees it and closes too.
		r.send("GET /wait HTTP/1.1\r\nHost: acme.test\r\n\r\n")
		release = <-entered
		r.c.(*net.TCPConn).CloseWrite()
		time.Sleep(delay)
		close(release)
		// (Past watchAfter the watch sees the close and drops the
		// response; before, the response comes first.)
		r.c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.ReadAll(r.br); err != nil {
			t.Fatalf("delay %s: connection still open after the client's close: %v", delay, err)
		}
		r.c.Close()
	}
}
