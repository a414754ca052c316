package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The router as systemd runs it: sockets passed as fds 3 and 4 with
// LISTEN_FDS/LISTEN_FDNAMES (http, https), READY/RELOADING/STOPPING sent to
// NOTIFY_SOCKET, SIGHUP reloads the installed manifests, SIGTERM stops.
func TestUnderSocketActivation(t *testing.T) {
	if os.Getenv("EHECOATL_ROUTER_HELPER") == "1" {
		os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid())) // systemd sets it to the child's pid
		os.Exit(run(strings.Fields(os.Getenv("ARGS"))))
	}
	dir, err := os.MkdirTemp("", "ehcmd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	etc, run := filepath.Join(dir, "etc"), filepath.Join(dir, "run")
	writeTenant(t, etc, "acme")
	backend(t, run, "acme")
	backend(t, run, "beta")

	// systemd's side: the notify socket and the listening sockets.
	notifyPath := filepath.Join(dir, "notify")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	var files []*os.File
	var addrs []string
	for i := 0; i < 2; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		f, _ := l.(*net.TCPListener).File()
		defer f.Close()
		addrs = append(addrs, l.Addr().String())
		files = append(files, f)
		l.Close() // the fd copy stays open in the child
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestUnderSocketActivation$")
	cmd.Env = append(os.Environ(), "EHECOATL_ROUTER_HELPER=1", "LISTEN_FDS=2", "LISTEN_FDNAMES=http:https",
		"NOTIFY_SOCKET="+notifyPath, "ARGS=--manifests "+etc+" --run-dir "+run+" --state-dir "+filepath.Join(dir, "state"))
	cmd.ExtraFiles = files
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	for _, f := range files {
		f.Close()
	}
	expect := func(prefix string) {
		t.Helper()
		buf := make([]byte, 1024)
		notify.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := notify.Read(buf)
		if err != nil || !strings.HasPrefix(string(buf[:n]), prefix) {
			t.Fatalf("notify: got %q (%v), want %s\nstderr:\n%s", buf[:n], err, prefix, stderr.String())
		}
	}
	expect("READY=1")
	get := func(host string) (int, string) {
		t.Helper()
		c, err := net.Dial("tcp", addrs[0])
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("acme.test"); code != 200 || body != "app acme" {
		t.Fatalf("acme: %d %q", code, body)
	}
	if code, _ := get("beta.test"); code != 404 {
		t.Fatalf("beta before reload: %d", code)
	}
	// The https socket serves TLS and plain HTTP alike (by the first
	// byte); acme.test is a reserved name, which gets no certificate: the
	// handshake is refused at once.
	start := time.Now()
	if c, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addrs[1], &tls.Config{ServerName: "acme.test", InsecureSkipVerify: true}); err == nil {
		c.Close()
		t.Fatal("TLS handshake for a reserved name succeeded")
	} else if time.Since(start) > 2*time.Second {
		t.Fatalf("TLS handshake refused only after %s: %v", time.Since(start), err)
	}
	addrs[0], addrs[1] = addrs[1], addrs[0]
	if code, body := get("acme.test"); code != 200 || body != "app acme" {
		t.Fatalf("plain HTTP on the https socket: %d %q", code, body)
	}
	addrs[0], addrs[1] = addrs[1], addrs[0]
	if _, err := os.Stat(filepath.Join(dir, "state", "certs")); err != nil {
		t.Errorf("the certificate engine's storage: %v\nstderr:\n%s", err, stderr.String())
	}

	writeTenant(t, etc, "beta")
	cmd.Process.Signal(syscall.SIGHUP)
	expect("RELOADING=1\nMONOTONIC_USEC=")
	expect("READY=1")
	if code, body := get("beta.test"); code != 200 || body != "app beta" {
		t.Fatalf("beta after reload: %d %q", code, body)
	}
	// A broken manifest keeps the table.
	os.WriteFile(filepath.Join(etc, "tenants", "broken.yaml"), []byte("tenant: Broken\n"), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	expect("RELOADING=1")
	expect("READY=1")
	if code, _ := get("beta.test"); code != 200 {
		t.Fatalf("after a bad reload: %d", code)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	expect("STOPPING=1")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	if !strings.Contains(stderr.String(), "reload failed; keeping the previous routing table") || !strings.Contains(stderr.String(), "tenants/broken.yaml") {
		t.Fatalf("the rejected reload was not logged:\n%s", stderr.String())
	}
}

func writeTenant(t *testing.T, etc, name string) {
	t.Helper()
	os.MkdirAll(filepath.Join(etc, "tenants"), 0o755)
	y := fmt.Sprintf("tenant: %s\napps:\n  web:\n    command: [/bin/true]\n    listen: activation\n    domains: [%s.test]\n", name, name)
	if err := os.WriteFile(filepath.Join(etc, "tenants", name+".yaml"), []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
}

func backend(t *testing.T, run, tenant string) {
	t.Helper()
	os.MkdirAll(filepath.Join(run, tenant), 0o755)
	l, err := net.Listen("unix", filepath.Join(run, tenant, "web.sock"))
	if err != nil {
		t.Fatal(err)
	}
	s := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "app "+tenant)
	})}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
}

// EHECOATL_TRUSTED_PROXIES, as the service's EnvironmentFile= sets it.
func TestTrustedProxiesEnv(t *testing.T) {
	for _, c := range []struct{ env, want string }{
		{"", ""},
		{"  ", ""},
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"10.0.0.0/8, 192.0.2.1 2001:db8::/32,::1", "10.0.0.0/8 192.0.2.1/32 2001:db8::/32 ::1/128"},
	} {
		t.Setenv(envTrustedProxies, c.env)
		ps, err := trustedProxies()
		if err != nil {
			t.Errorf("%q: %v", c.env, err)
			continue
		}
		var s []string
		for _, p := range ps {
			s = append(s, p.String())
		}
		if got := strings.Join(s, " "); got != c.want {
			t.Errorf("%q: %q, want %q", c.env, got, c.want)
		}
	}
	t.Setenv(envTrustedProxies, "10.0.0.0/8, 10.0.0.300")
	_, err := trustedProxies()
	if err == nil || !strings.Contains(err.Error(), envTrustedProxies) || !strings.Contains(err.Error(), `"10.0.0.300"`) {
		t.Fatalf("bad entry: %v", err)
	}
	// The router refuses to start, as for a bad option (before it
	// listens).
	if code := run([]string{"-listen", "127.0.0.1:0", "-no-idle-stop"}); code != 2 {
		t.Fatalf("a bad %s: exit %d, want 2", envTrustedProxies, code)
	}
}
