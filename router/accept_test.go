package router

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// sockopt reads an integer socket option of c's descriptor.
func sockopt(t *testing.T, c net.Conn, level, opt int) int {
	t.Helper()
	sc, ok := c.(syscall.Conn)
	if !ok {
		t.Fatalf("%T has no SyscallConn", c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	rc.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), level, opt) })
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v
}

// A connection the router accepts has TCP_NODELAY (from the listening
// socket) and no keep-alive probes, which net would have set with four
// system calls; an upgraded one gets the probes. It reads, writes, tells
// its peer's address, half-closes and times out like a net.Conn.
func TestBareListener(t *testing.T) {
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newBareListener(tl.(*net.TCPListener))
	defer l.Close()
	if _, ok := l.(*bareListener); !ok {
		t.Fatalf("newBareListener fell back to %T", l)
	}
	client, err := net.Dial("tcp", tl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if v := sockopt(t, c, syscall.IPPROTO_TCP, syscall.TCP_NODELAY); v != 1 {
		t.Errorf("TCP_NODELAY = %d on an accepted connection", v)
	}
	if v := sockopt(t, c, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE); v != 0 {
		t.Errorf("SO_KEEPALIVE = %d on an accepted connection", v)
	}
	if got, want := c.RemoteAddr().String(), client.LocalAddr().String(); got != want {
		t.Errorf("RemoteAddr %s, want %s", got, want)
	}

	io.WriteString(client, "ping")
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read %q, %v", buf, err)
	}
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	// As clientWatch and readResponseHead tell a timeout.
	_, err = c.Read(buf)
	if ne, ok := errors.AsType[net.Error](err); !ok || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
	c.SetReadDeadline(time.Time{})
	io.WriteString(c, "pong")
	c.(interface{ CloseWrite() error }).CloseWrite()
	if b, err := io.ReadAll(client); err != nil || string(b) != "pong" {
		t.Fatalf("client read %q, %v; want pong and EOF", b, err)
	}

	keepAliveProbes(c)
	if v := sockopt(t, c, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE); v != 1 {
		t.Errorf("SO_KEEPALIVE = %d after keepAliveProbes", v)
	}
	if v := sockopt(t, c, syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE); v != 15 {
		t.Errorf("TCP_KEEPIDLE = %d after keepAliveProbes", v)
	}

	// Close makes a blocked Accept return.
	done := make(chan error, 1)
	go func() { _, err := l.Accept(); done <- err }()
	time.Sleep(50 * time.Millisecond)
	l.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Accept after Close returned a connection")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Accept still blocked after Close")
	}
}
