package router

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// uconnPair returns an app connection as the router holds it and its
// peer, the app's end, over a socket pair.
func uconnPair(t *testing.T) (*uconn, *net.UnixConn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "pair")
		defer f.Close()
		nc, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return nc.(*net.UnixConn)
	}
	c, err := newUconn(conn(fds[0]), nil)
	if err != nil {
		t.Fatal(err)
	}
	peer := conn(fds[1])
	t.Cleanup(func() { c.c.Close(); peer.Close() })
	return c, peer
}

// send queues req as an exchange does: its write is left to the first
// read of the answer.
func (c *uconn) send(req string) {
	c.bw.WriteString(req)
	c.werr, c.sendPending = nil, true
}

// The request is written by the answer's first read, whatever the app's
// timing: at once, after a pause, in pieces. A lost readiness event would
// leave a read waiting until its deadline (and fail the exchange).
func TestUconnWritesInRead(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rounds int
		answer func(w io.Writer, ans []byte, rnd *rand.Rand)
	}{
		{"instant", 5000, func(w io.Writer, ans []byte, _ *rand.Rand) { w.Write(ans) }},
		{"after a pause", 200, func(w io.Writer, ans []byte, rnd *rand.Rand) {
			time.Sleep(time.Duration(rnd.Intn(2000)) * time.Microsecond)
			w.Write(ans)
		}},
		{"in pieces", 200, func(w io.Writer, ans []byte, rnd *rand.Rand) {
			for len(ans) > 0 {
				n := min(len(ans), 1+rnd.Intn(7))
				w.Write(ans[:n])
				ans = ans[n:]
				time.Sleep(time.Duration(rnd.Intn(300)) * time.Microsecond)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, peer := uconnPair(t)
			go func() {
				rnd := rand.New(rand.NewSource(1))
				buf := make([]byte, 64)
				for i := 0; ; i++ {
					req := "req " + strconv.Itoa(i) + "\n"
					if _, err := io.ReadFull(peer, buf[:len(req)]); err != nil {
						return
					}
					if string(buf[:len(req)]) != req {
						peer.Close()
						return
					}
					tc.answer(peer, []byte("answer "+strconv.Itoa(i)+"\n"), rnd)
				}
			}()
			c.c.SetReadDeadline(time.Now().Add(time.Minute))
			buf := make([]byte, 64)
			for i := 0; i < tc.rounds; i++ {
				c.send("req " + strconv.Itoa(i) + "\n")
				want := "answer " + strconv.Itoa(i) + "\n"
				start := time.Now()
				if _, err := io.ReadFull(c.br, buf[:len(want)]); err != nil || string(buf[:len(want)]) != want {
					t.Fatalf("round %d: %q, %v; want %q", i, buf[:len(want)], err, want)
				}
				if d := time.Since(start); d > 5*time.Second {
					t.Fatalf("round %d took %s", i, d)
				}
				if c.werr != nil || c.sendPending {
					t.Fatalf("round %d: werr %v, pending %v", i, c.werr, c.sendPending)
				}
			}
		})
	}
}

// A request the socket cannot take at once (the app reads late) is
// written through the ordinary blocking write, inside the read, and the
// answer still arrives.
func TestUconnWritesInReadPartially(t *testing.T) {
	c, peer := uconnPair(t)
	c.rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096) })
	// Fill the socket so that the request's write meets EAGAIN.
	filled := 0
	c.rc.Write(func(fd uintptr) bool {
		junk := make([]byte, 1024)
		for {
			n, err := syscall.Write(int(fd), junk)
			if err != nil {
				return true
			}
			filled += n
		}
	})
	if filled == 0 {
		t.Fatal("the socket took nothing")
	}
	req := bytes.Repeat([]byte("0123456789abcdef"), 250) // 4000 bytes: fits bw, not the socket
	c.bw.Write(req)
	c.werr, c.sendPending = nil, true
	got := make(chan error, 1)
	go func() {
		time.Sleep(50 * time.Millisecond)
		buf := make([]byte, filled+len(req))
		if _, err := io.ReadFull(peer, buf); err != nil {
			got <- err
			return
		}
		if !bytes.Equal(buf[filled:], req) {
			got <- errors.New("request bytes differ")
			return
		}
		_, err := peer.Write([]byte("answer\n"))
		got <- err
	}()
	c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := c.br.ReadString('\n')
	if err != nil || line != "answer\n" {
		t.Fatalf("answer %q, %v", line, err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

// An expired deadline makes RawConn.Read fail before it calls the
// function: the request is still written, and the caller sees the
// deadline (then reads the answer the ordinary way, as readResponseHead
// does after a watch starts).
func TestUconnWritesInReadExpiredDeadline(t *testing.T) {
	c, peer := uconnPair(t)
	c.c.SetReadDeadline(aLongTimeAgo)
	c.send("req\n")
	if _, err := c.br.Peek(1); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err %v, want the deadline", err)
	}
	if c.werr != nil || c.sendPending {
		t.Fatalf("werr %v, pending %v", c.werr, c.sendPending)
	}
	peer.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != "req\n" {
		t.Fatalf("app got %q, %v", buf, err)
	}
	peer.Write([]byte("answer\n"))
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := c.br.ReadString('\n'); err != nil || line != "answer\n" {
		t.Fatalf("answer %q, %v", line, err)
	}
}

// An app that closed the connection: the write fails, c.werr says so
// (the exchange retries a pooled connection on it), and the read does not
// wait.
func TestUconnWritesInReadClosedApp(t *testing.T) {
	c, peer := uconnPair(t)
	peer.Close()
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	c.send("req\n")
	start := time.Now()
	if _, err := c.br.Peek(1); err == nil {
		t.Fatal("read from a closed app succeeded")
	}
	if c.werr == nil {
		t.Fatal("no write error")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %s", d)
	}
}

// An app that shut down its side before the request (its EOF came before
// the read readiness was reset, so no event announces it): the wait ends
// at the exchange's read deadline, and the ordinary read then sees EOF.
func TestUconnWritesInReadHalfClosedApp(t *testing.T) {
	c, peer := uconnPair(t)
	peer.CloseWrite()
	time.Sleep(10 * time.Millisecond)
	c.c.SetReadDeadline(time.Now().Add(watchAfter))
	c.send("req\n")
	start := time.Now()
	_, err := c.br.Peek(1)
	if d := time.Since(start); d > 2*watchAfter {
		t.Fatalf("took %s, more than the deadline", d)
	}
	if err != io.EOF {
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("err %v", err)
		}
		c.c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.br.Peek(1); err != io.EOF {
			t.Fatalf("second read: %v, want EOF", err)
		}
	}
}
