// Serving a plain connection's requests from inside RawConn.Read, so that
// the wait for the next request starts without a read that finds nothing.

package router

import (
	"errors"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/ehecoatl/ehecoatl/router/wire"
)

// Why: Go's poller forgets a descriptor's read readiness at the start of
// every Read (poll_runtime_pollReset in internal/poll.FD's prepareRead,
// Go 1.26), so each Read must try the socket before it parks, and the
// wait for the next request on a kept-alive connection began with a read
// that returned EAGAIN. serveRaw stays in one RawConn.Read for as long as
// requests need nothing but reads of their heads: it reads until a short
// read (the socket is drained, as nginx decides), serves the request,
// and returns false to park. A readiness event that arrives meanwhile (a
// pipelined request, the client's FIN) is kept by the runtime
// (netpollunblock sets pdReady; netpollblock consumes it without
// parking), because no new Read resets it.
//
// What may not happen inside that Read is another read of the client
// connection: the descriptor's read lock is held. So requests with a
// body or an upgrade are parsed there and served after it returns; a
// linger (which reads) waits until it has returned; the watch of the
// client while a slow app answers (uconn.beforeBlock) peeks at a
// duplicate of the socket, registered with the poller on its own; and a
// TLS handshake or a head larger than the read buffer hands the
// connection to serveLoop.

// errWouldBlock is clientReader's EAGAIN inside serveRaw.
var errWouldBlock = errors.New("router: client socket drained")

// clientReader is what a plain connection's read buffer reads from: the
// socket itself while serveRaw's RawConn.Read runs (rawFD), else the
// connection.
type clientReader clientConn

func (r *clientReader) Read(p []byte) (int, error) {
	cc := (*clientConn)(r)
	if cc.rawFD < 0 {
		n, err := cc.c.Read(p)
		cc.rx += int64(n)
		return n, err
	}
	// serveRaw's RawConn.Read holds the descriptor, or a loop owns it:
	// either way the socket is read without waiting.
	n, err := nbRead(cc.rawFD, p, &cc.drained)
	cc.rx += int64(n)
	return n, err
}

// WriteTo lets a tunnel's copy use the connection's own (splice).
func (r *clientReader) WriteTo(w io.Writer) (int64, error) {
	cc := (*clientConn)(r)
	n, err := io.Copy(w, cc.c)
	cc.rx += n
	return n, err
}

// What serveRaw's RawConn.Read stopped for.
const (
	rawEnd      = iota // the connection is done (lingering first if asked)
	rawHandle          // a request with a body or an upgrade: served after
	rawRefuse          // an unparsable request: refused after (refuse lingers)
	rawHandOver        // TLS, or a head larger than the buffer: serveLoop
)

// serveRaw serves a plain connection until it ends (ok false) or needs
// serveLoop, which it then hands the state of its loop: whether the next
// request is the first, the wait for it, and when its head began.
func (cc *clientConn) serveRaw() (first bool, wait time.Duration, begun time.Time, ok bool) {
	cfg := &cc.rt.cfg
	first, wait = true, cfg.ReadHeaderTimeout
	var start time.Time
	var reqErr *wire.RequestError
	// arm readies the wait for the next request, as serveLoop does; false
	// when the server is shutting down.
	arm := func() bool {
		if first {
			cc.dl = time.Now().Add(wait)
			cc.c.SetReadDeadline(cc.dl)
			return true
		}
		cc.state.Store(stateIdle)
		if cc.srv.shutdown.Load() {
			return false
		}
		cc.waitDeadline(time.Now().Add(wait), wait)
		return true
	}
	for {
		what := rawEnd
		armed, partial := false, false
		// Before the Read: it fails at once, without calling the
		// function, under an expired deadline (a body's, after rawHandle).
		if !arm() {
			return false, 0, time.Time{}, false
		}
		armed = true
		err := cc.rc.Read(func(fd uintptr) bool {
			// A first call or a wake-up: the socket may hold data.
			cc.rawFD, cc.drained = int(fd), false
			for {
				n := cc.br.Buffered()
				if n == 0 {
					// Between requests, as in serveLoop.
					if !armed {
						if !arm() {
							return true
						}
						armed = true
					}
					if cc.drained {
						return false
					}
					if _, err := cc.br.Peek(1); err != nil && err != errWouldBlock {
						return true
					}
					continue
				}
				b, _ := cc.br.Peek(n)
				if first && b[0] == tlsHandshake {
					what = rawHandOver
					return true
				}
				if start.IsZero() {
					cc.state.Store(stateActive)
					start = time.Now()
				}
				if !headBuffered(b) {
					if n >= cc.br.Size() {
						what = rawHandOver
						return true
					}
					// As serveLoop: only a partial head gets the
					// read-header deadline.
					if !partial {
						partial = true
						cc.dl = time.Time{}
						cc.c.SetReadDeadline(start.Add(cfg.ReadHeaderTimeout))
					}
					if cc.drained {
						return false
					}
					if _, err := cc.br.Peek(n + 1); err != nil && err != errWouldBlock {
						return true
					}
					continue
				}
				// The whole head is buffered: ReadHead reads nothing.
				head, err := wire.ReadHead(cc.br, cc.headBuf, cfg.MaxHeaderBytes)
				cc.headBuf, cc.headLen = head[:0], len(head)
				if err != nil {
					if errors.As(err, &reqErr) {
						what = rawRefuse
					}
					return true
				}
				cc.markHead(len(head))
				req := &cc.req
				if err := req.parse(string(head)); err != nil {
					reqErr, what = err.(*wire.RequestError), rawRefuse
					return true
				}
				if req.ContentLength != 0 || req.Upgrade != "" {
					what = rawHandle
					return true
				}
				if !cc.handle(req, start) {
					return true
				}
				first, wait, start, armed, partial = false, cfg.IdleTimeout, time.Time{}, false, false
			}
		})
		cc.rawFD = -1
		if err != nil {
			return false, 0, time.Time{}, false // a deadline, Shutdown or Close
		}
		switch what {
		case rawHandOver:
			return first, wait, start, true
		case rawRefuse:
			cc.refuse(reqErr, start)
			return false, 0, time.Time{}, false
		case rawHandle:
			if !cc.handle(&cc.req, start) {
				return false, 0, time.Time{}, false
			}
			if cc.req.ContentLength != 0 {
				cc.dl = time.Time{} // the body's reads had deadlines of their own
			}
			first, wait, start = false, cfg.IdleTimeout, time.Time{}
		default:
			if cc.lingerPending {
				cc.lingerDrain()
			}
			return false, 0, time.Time{}, false
		}
	}
}

// headBuffered says whether b holds a whole request head as
// wire.ReadHead reads it: the empty lines it skips before the request
// line, then a head through its empty line.
func headBuffered(b []byte) bool {
	for len(b) > 0 {
		switch {
		case b[0] == '\n':
			b = b[1:]
		case b[0] == '\r' && len(b) > 1 && b[1] == '\n':
			b = b[2:]
		default:
			return wire.HeadEnd(b) > 0
		}
	}
	return false
}

// startDup starts w on a duplicate of the client's socket fd, which
// serveRaw's RawConn.Read holds: the duplicate has a readiness of its
// own in the poller, so w can wait on it; the events also reach fd's,
// where serveRaw finds them once it parks. False when the duplicate
// could not be made (no watch then: the response's wait is bounded by
// the app's timeouts alone).
func (w *clientWatch) startDup(fd int, c *uconn) bool {
	nfd, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if e != 0 {
		return false
	}
	// The duplicate shares O_NONBLOCK: os.NewFile registers it with the
	// poller (as bareListener's connections).
	f := os.NewFile(nfd, "client")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return false
	}
	w.f = f
	// Server.Close pokes the duplicate (closing the connection does not
	// close it). Published before the check of its flag: either Close
	// sees the watch or the watch sees the flag.
	cc := c.cc
	cc.dupWatch.Store(f)
	if cc.closing.Load() {
		f.SetReadDeadline(aLongTimeAgo)
	}
	go w.runDup(rc, c)
	return true
}

// runDup is run's peek, on the duplicate: data (a pipelined request) ends
// the watch, EOF or an error means the client went away (or the server
// closed the connection).
func (w *clientWatch) runDup(rc syscall.RawConn, c *uconn) {
	defer close(w.done)
	var closed bool
	var b [1]byte
	err := rc.Read(func(fd uintptr) bool {
		for {
			n, _, e := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false
			}
			closed = e != nil || n == 0
			return true
		}
	})
	// Only disarm (stopping first) and Server.Close set a deadline on the
	// duplicate: any other end of the wait is the client's end.
	if (closed || err != nil) && !w.stopping.Load() {
		w.gone.Store(true)
		c.c.SetDeadline(aLongTimeAgo)
	}
}
