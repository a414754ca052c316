// One connection to an app and its per-exchange state: the deadlines and
// the watch of the client while the router waits on the app.

package router

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// uconn is one connection to an upstream with its buffers. Buffers live
// as long as the connection, so a request on a pooled connection
// allocates none.
type uconn struct {
	c  *net.UnixConn
	rc syscall.RawConn
	br *bufio.Reader
	bw *bufio.Writer
	up *upstream
	// idleSince is the unix-nano time the connection entered the pool.
	idleSince int64
	// reused is true when the connection came from the pool (it may have
	// been closed by the app meanwhile: a failed first read can be retried).
	reused bool

	// Per-exchange state (see beforeBlock): the client, whether the short
	// first deadline was replaced, whether the client may be watched, the
	// watch, the start deadline of a fresh connection; connTokens is kept
	// for the capacity wire.Response.Listed reuses, so that a response
	// naming fields in Connection allocates nothing on a pooled connection.
	cc            *clientConn
	armed         bool
	noWatch       bool
	w             *clientWatch
	startDeadline time.Time
	connTokens    [][]byte
	// rdl is the read deadline in force on c, as this connection's
	// exchanges set it (see armRead).
	rdl time.Time
	// sendPending: the request sits in bw, to be written by the first
	// read of the response (see uconnReader); werr is that write's error.
	sendPending bool
	werr        error
	// coldSince: the exchange's request found the instance stopped and
	// began to wait then (unix ns; metrics.go), else 0.
	coldSince int64
	// inLoop: a loop owns the connection (loopapp.go); c, rc and bw are
	// nil, and the read buffer reads lfd without waiting (drained says
	// its last read emptied the socket).
	inLoop  bool
	lfd     int
	drained bool
}

// watchAfter: a response that keeps the router waiting longer than this
// starts a watch of the client connection that aborts the upstream I/O
// when the client goes away. Fast responses (nearly all) never pay for
// it: they are read under a read deadline that merely wakes the router
// after watchAfter.
const watchAfter = 100 * time.Millisecond

// armRead sets the read deadline of an exchange's first wait: the start
// deadline of a fresh connection when it comes first, else now +
// watchAfter. A pooled connection whose deadline from an exchange less
// than watchAfter/2 ago is still ahead keeps it, so that connections
// carrying many requests a second do not change a runtime timer for each:
// the watch of a slow response then starts after 50 to 100 ms.
func (c *uconn) armRead(now time.Time) {
	dl := now.Add(watchAfter)
	if !c.startDeadline.IsZero() && c.startDeadline.Before(dl) {
		dl = c.startDeadline
	}
	if c.startDeadline.IsZero() && !c.rdl.After(dl) && dl.Sub(c.rdl) <= watchAfter/2 {
		return
	}
	c.setReadDeadline(dl)
}

// setReadDeadline sets the read deadline of c and records it.
func (c *uconn) setReadDeadline(t time.Time) {
	c.rdl = t
	c.c.SetReadDeadline(t)
}

// begin resets the per-exchange state of c.
func (c *uconn) begin(cc *clientConn, hasBody bool) {
	c.cc, c.armed, c.noWatch, c.w, c.startDeadline = cc, false, hasBody, nil, time.Time{}
	c.sendPending, c.werr = false, nil
}

// beforeBlock is called before a read from the app that may block for
// long: once per exchange it replaces the short deadline by the start
// deadline (fresh connection before the first byte) or none, and starts
// watching the client. A request with a body is not watched: its body is
// being read from the client connection, and a client that goes away
// fails that read instead.
func (c *uconn) beforeBlock() error {
	if c.armed {
		return nil
	}
	c.armed = true
	c.setReadDeadline(c.startDeadline)
	if c.noWatch {
		return nil
	}
	w := &clientWatch{done: make(chan struct{})}
	if fd := c.cc.rawFD; fd >= 0 {
		// Inside serveRaw's read (rawserve.go): the watch waits on a
		// duplicate of the socket, and the client's deadline, which
		// nothing waits on meanwhile, stays.
		if w.startDup(fd, c) {
			c.w = w
		}
		return nil
	}
	c.w = w
	// The client's read deadline (idle or read-header timeout) is for the
	// client's requests, not for how long the app may take.
	c.cc.dl = time.Time{}
	c.cc.c.SetReadDeadline(time.Time{})
	go w.run(c.cc.br, c)
	return nil
}

// arrived is called once the first byte of the response is in: the start
// deadline no longer applies.
func (c *uconn) arrived() error {
	if c.startDeadline.IsZero() {
		return nil
	}
	c.startDeadline = time.Time{}
	if !c.armed {
		return nil // the short deadline is still in force
	}
	c.setReadDeadline(time.Time{})
	// Checked after clearing: a watch that fired before is seen here, one
	// that fires later poisons the deadline after it was cleared.
	if c.w != nil && c.w.gone.Load() {
		return errClientGone
	}
	return nil
}

// disarm stops the client watch; true when it saw the client go (the
// connection's deadlines are poisoned and it must be closed).
func (c *uconn) disarm() bool {
	w, cc := c.w, c.cc
	c.w, c.cc = nil, nil
	if w == nil {
		return false
	}
	w.stopping.Store(true)
	if w.f != nil {
		w.f.SetReadDeadline(aLongTimeAgo)
		<-w.done
		cc.dupWatch.Store(nil)
		w.f.Close()
		return w.gone.Load()
	}
	cc.dl = time.Time{}
	cc.c.SetReadDeadline(aLongTimeAgo)
	<-w.done
	return w.gone.Load()
}

// clientWatch waits for the client to close while the router waits on the
// app. It peeks at the client connection, which nothing else reads
// meanwhile; a pipelined request just ends the watch.
type clientWatch struct {
	// f is the duplicate of the client's socket startDup watches, if any.
	f        *os.File
	done     chan struct{}
	gone     atomic.Bool
	stopping atomic.Bool
}

func (w *clientWatch) run(br *bufio.Reader, c *uconn) {
	defer close(w.done)
	_, err := br.Peek(1)
	var ne net.Error
	if err != nil && !w.stopping.Load() && !(errors.As(err, &ne) && ne.Timeout()) {
		w.gone.Store(true)
		c.c.SetDeadline(aLongTimeAgo)
	}
}

// uconnReader is c's read side as its read buffer sees it: the socket,
// except for the first read of a response whose request is still in bw
// (sendPending). That read writes the request inside a RawConn.Read and
// then waits, without the read that would find nothing yet.
//
// Why no readiness is lost (Go 1.26, internal/poll.FD.RawRead and
// runtime/netpoll.go): RawRead resets the descriptor's read readiness
// (poll_runtime_pollReset) before it calls the function, and a readiness
// event that arrives later, while the goroutine is not parked, is kept
// (netpollunblock sets pdReady, netpollblock consumes it without parking).
// The app can only answer after the request is written, which is after
// that reset, so its answer's event is kept. What was in the socket
// before the reset is not seen: a pooled connection is checked for that
// (alive) or read to its response's end before it is pooled, and the
// exchange's read deadline (at most watchAfter) bounds the wait if the
// app closed it in between; the ordinary read that follows finds it.
type uconnReader uconn

func (r *uconnReader) Read(p []byte) (int, error) {
	c := (*uconn)(r)
	if c.inLoop {
		return nbRead(c.lfd, p, &c.drained)
	}
	if !c.sendPending {
		return c.c.Read(p)
	}
	n, rerr := 0, error(nil)
	err := c.rc.Read(func(fd uintptr) bool {
		if c.sendPending {
			c.sendPending = false
			// An ordinary write: one write(2) when the socket takes it
			// all, else it waits for room like any other.
			if c.werr = c.bw.Flush(); c.werr == nil {
				return false // park until the answer is readable
			}
			// The socket failed: a read tells why without waiting.
		}
		for {
			m, e := recv(int(fd), p)
			switch {
			case e == syscall.EINTR:
				continue
			case e == syscall.EAGAIN:
				return false
			case e != nil:
				rerr = os.NewSyscallError("read", e)
			case m == 0 && len(p) > 0:
				rerr = io.EOF
			}
			n = max(m, 0)
			return true
		}
	})
	if c.sendPending {
		// RawConn.Read failed before it called the function (an expired
		// deadline): write the ordinary way, and let the caller see err.
		c.sendPending = false
		if c.werr = c.bw.Flush(); c.werr != nil {
			return 0, c.werr
		}
	}
	if err != nil {
		return 0, err
	}
	return n, rerr
}

// WriteTo lets a tunnel's copy splice from the socket as before.
func (r *uconnReader) WriteTo(w io.Writer) (int64, error) {
	return io.Copy(w, (*uconn)(r).c)
}

// tryRead reads from the app's connection without waiting: -1 when
// nothing is there (or on any error, which the blocking read that follows
// will report), 0 and io.EOF at the end.
func (c *uconn) tryRead(p []byte) (int, error) {
	n := -1
	err := c.rc.Read(func(fd uintptr) bool {
		if m, e := recv(int(fd), p); e == nil {
			n = m
		}
		return true // never wait here
	})
	switch {
	case err != nil || n < 0:
		return -1, nil
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// alive peeks at the socket without blocking: a pooled connection must
// have nothing to read; EOF or data means the app closed it or misbehaved.
// It uses Control, not Read: the poller would refuse the read because of
// the connection's expired deadline from its last exchange.
func (c *uconn) alive() bool {
	ok := false
	var b [1]byte
	c.rc.Control(func(fd uintptr) {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = errors.Is(err, syscall.EAGAIN)
	})
	return ok
}
