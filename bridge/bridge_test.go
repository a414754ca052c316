package bridge

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// unixListener makes the socket systemd would pass.
func unixListener(t *testing.T) (net.Listener, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "ehb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := filepath.Join(dir, "app.sock")
	l, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	return l, p
}

// freePort returns a 127.0.0.1 port nobody listens on (yet).
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// echoApp serves HTTP on addr after delay.
func echoApp(t *testing.T, addr string, delay time.Duration) {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "app %s %s", r.URL.Path, b)
	})}
	t.Cleanup(func() { srv.Close() })
	go func() {
		time.Sleep(delay)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("app listen: %v", err)
			return
		}
		srv.Serve(l)
	}()
}

func unixHTTPClient(path string) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConnsPerHost: 100,
	}}
}

func get(t *testing.T, c *http.Client, path string) string {
	t.Helper()
	resp, err := c.Get("http://app" + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// The app binds its port 500 ms after the first connection arrives: the
// bridge holds that connection and the request succeeds.
func TestFirstRequestWaitsForLateApp(t *testing.T) {
	l, sock := unixListener(t)
	to := freePort(t)
	echoApp(t, to, 500*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{To: to, Listeners: []net.Listener{l}, ConnectTimeout: 5 * time.Second, Logger: quiet()})
	}()
	start := time.Now()
	if got := get(t, unixHTTPClient(sock), "/first"); got != "app /first " {
		t.Fatalf("got %q", got)
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Fatalf("answered after %s, before the app was up?", d)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Past the connect timeout the client connection is closed (not hung).
func TestConnectTimeout(t *testing.T) {
	l, sock := unixListener(t)
	to := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{To: to, Listeners: []net.Listener{l}, ConnectTimeout: 300 * time.Millisecond, Logger: quiet()})
	}()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read: %v, want EOF", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 3*time.Second {
		t.Fatalf("closed after %s, want about 300ms", d)
	}
	// The app never accepted: the bridge fails (its unit shows failed)
	// instead of serving on as if healthy.
	select {
	case err := <-done:
		if !errors.Is(err, ErrAppNeverAccepted) {
			t.Fatalf("Run: %v, want ErrAppNeverAccepted", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run still serves after its app never accepted")
	}
}

// An app that accepted once and then stops accepting (overloaded,
// restarting) costs the waiting connection, not the bridge.
func TestConnectTimeoutAfterAppAccepted(t *testing.T) {
	l, sock := unixListener(t)
	to := freePort(t)
	app, err := net.Listen("tcp", to)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := app.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{To: to, Listeners: []net.Listener{l}, ConnectTimeout: 300 * time.Millisecond, Logger: quiet()})
	}()
	for i := 0; i < 2; i++ {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Read(make([]byte, 1))
		c.Close()
		app.Close() // the second connection times out
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned %v after a connect timeout of an app that had accepted", err)
	case <-time.After(500 * time.Millisecond):
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// With no connection open for the idle timeout Run returns nil (exit 0);
// an open connection keeps it running.
func TestIdleExit(t *testing.T) {
	l, sock := unixListener(t)
	to := freePort(t)
	echoApp(t, to, 0)
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		done <- Run(context.Background(), Config{To: to, Listeners: []net.Listener{l}, IdleTimeout: 300 * time.Millisecond, Logger: quiet()})
	}()
	// Hold a raw connection open for 700 ms: no exit meanwhile.
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "GET /held HTTP/1.1\r\nHost: app\r\n\r\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(line, "200") {
		t.Fatalf("held request: %q %v", line, err)
	}
	select {
	case err := <-done:
		t.Fatalf("exited with a connection open: %v", err)
	case <-time.After(700 * time.Millisecond):
	}
	c.Close()
	closed := time.Now()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(closed); d < 250*time.Millisecond {
			t.Fatalf("exited %s after the last close, before the idle timeout", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no idle exit (running since %s)", time.Since(start))
	}
}

func TestManyConcurrentConnections(t *testing.T) {
	l, sock := unixListener(t)
	to := freePort(t)
	echoApp(t, to, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Run(ctx, Config{To: to, Listeners: []net.Listener{l}, Logger: quiet()})
	const n = 200
	var wg sync.WaitGroup
	var bad atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One connection per request (no keep-alive) to exercise accept.
			c, err := net.Dial("unix", sock)
			if err != nil {
				bad.Add(1)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			body := strings.Repeat("x", 1000+i)
			fmt.Fprintf(c, "POST /c%d HTTP/1.1\r\nHost: app\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", i, len(body), body)
			resp, err := io.ReadAll(c)
			if err != nil || !strings.HasSuffix(string(resp), fmt.Sprintf("app /c%d %s", i, body)) {
				bad.Add(1)
			}
		}()
	}
	wg.Wait()
	if b := bad.Load(); b > 0 {
		t.Fatalf("%d of %d connections failed", b, n)
	}
}

// Half-close: the client shuts its write side after sending; the app reads
// to EOF and answers; the answer still arrives.
func TestHalfClose(t *testing.T) {
	l, sock := unixListener(t)
	app, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	go func() {
		c, err := app.Accept()
		if err != nil {
			return
		}
		b, _ := io.ReadAll(c) // until the client's half-close
		c.Write([]byte("got " + strconv.Itoa(len(b))))
		c.Close()
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Run(ctx, Config{To: app.Addr().String(), Listeners: []net.Listener{l}, Logger: quiet()})
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write(make([]byte, 100000))
	c.(*net.UnixConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "got 100000" {
		t.Fatalf("got %q, %v", b, err)
	}
}

// The real activation path: a subprocess receives the socket as fd 3 with
// LISTEN_FDS=1 and LISTEN_PID set (as systemd does) and Run takes it from
// there.
func TestSocketActivation(t *testing.T) {
	if os.Getenv("EHECOATL_BRIDGE_HELPER") == "1" {
		os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid())) // systemd sets it to the child's pid
		err := Run(context.Background(), Config{To: os.Getenv("TO"), IdleTimeout: 300 * time.Millisecond, Logger: quiet()})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	l, sock := unixListener(t)
	f, err := l.(*net.UnixListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	to := freePort(t)
	echoApp(t, to, 200*time.Millisecond)
	cmd := exec.Command(os.Args[0], "-test.run=^TestSocketActivation$")
	cmd.Env = append(os.Environ(), "EHECOATL_BRIDGE_HELPER=1", "LISTEN_FDS=1", "TO="+to)
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if got := get(t, &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return net.Dial("unix", sock)
	}}}, "/activated"); got != "app /activated " {
		t.Fatalf("got %q", got)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("bridge exited with %v, want 0 after the idle timeout", err)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("bridge did not exit after the idle timeout")
	}
}
