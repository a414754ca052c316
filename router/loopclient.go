// A client connection in a loop: reading requests, the timeouts, sending
// answers.

package router

import (
	"bufio"
	"net"
	"strings"
	"time"

	"github.com/ehecoatl/ehecoatl/router/wire"
	"golang.org/x/sys/unix"
)

// lconn is a client connection a loop owns. Its clientConn holds what
// the goroutine path would (the read buffer, the parsed request, the
// counts), so a hand-off passes it on as it is.
type lconn struct {
	l     *loop
	fd    int
	cc    *clientConn
	at    int // index in l.conns
	raddr *net.TCPAddr
	laddr net.Addr

	// out is what the client is sent next, out[off:] still to go.
	out []byte
	off int
	edges
	// first: no request was answered yet; partial: the head being read
	// began (start) and is not whole.
	first, partial bool
	start          time.Time
	// readDL ends the wait for the client's next request or the rest of
	// its head, or (during an exchange) the app's start; sendDL the wait
	// for the client to take what is sent (unix ns, 0: none).
	readDL, sendDL int64
	// after: what happens once out is sent.
	after int
	x     lexchange
}

const (
	afterNext   = iota // read the next request
	afterClose         // close the connection
	afterLinger        // linger, then close (handoff.go)
)

func (l *loop) newConn(fd int, raddr *net.TCPAddr, laddr net.Addr) {
	br := readerPool.Get().(*bufio.Reader)
	cc := &clientConn{srv: l.s, rt: l.rt, br: br, rawFD: fd}
	br.Reset((*clientReader)(cc))
	cc.ip = clientIP(raddr.String())
	cc.key = clientKey(cc.ip)
	cc.trusted = l.rt.trusts(cc.ip)
	lc := &lconn{l: l, fd: fd, cc: cc, raddr: raddr, laddr: laddr, first: true, at: len(l.conns)}
	lc.x.lc = lc
	if !l.add(fd, lc, unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLET) {
		l.conns = append(l.conns, lc)
		lc.close()
		return
	}
	l.conns = append(l.conns, lc)
	// The first request must come quickly.
	lc.setReadDL(l.nowNS + int64(l.rt.cfg.ReadHeaderTimeout))
	// No read yet: the request rarely comes with the connection, and
	// EPOLL_CTL_ADD reports an edge for data that is there already.
}

func (lc *lconn) event(ev uint32) {
	lc.note(ev)
	lc.drive()
}

// drive does what the connection's state allows until it must wait for
// an event: send, advance the exchange, take the next request. It
// returns after a close or a hand-off too (lc.cc is nil then).
func (lc *lconn) drive() {
	for lc.cc != nil {
		if lc.off < len(lc.out) && !lc.send() {
			return
		}
		if lc.x.on {
			if !lc.x.advance() {
				return
			}
			continue
		}
		switch lc.after {
		case afterClose:
			lc.close()
			return
		case afterLinger:
			lc.handOff(handLinger)
			return
		}
		if !lc.next() {
			return
		}
	}
}

// send sends what is in out; false when it must wait (or failed, which
// closed the connection).
func (lc *lconn) send() bool {
	for lc.off < len(lc.out) {
		if lc.blocked {
			return false
		}
		n, e := nbSend(lc.fd, lc.out[lc.off:])
		switch {
		case e == unix.EAGAIN:
			n = 0
		case e != 0:
			lc.fail()
			return false
		}
		lc.off += n
		lc.cc.tx += int64(n)
		if lc.off < len(lc.out) {
			// The socket is full: wait for room, under the send timeout
			// (at least half of it ahead, as armWrite on the other path).
			lc.full(lc.l, lc.fd)
			now := lc.l.nowNS
			if lc.sendDL-now < int64(sendTimeout/2) {
				lc.sendDL = now + int64(sendTimeout)
				lc.l.schedule(lc.sendDL)
			}
			return false
		}
	}
	lc.l.release(lc.out)
	lc.out, lc.off, lc.sendDL = nil, 0, 0
	return true
}

// next reads the next request and serves it or hands it over; false
// when it must wait for more input (or closed or handed the connection).
func (lc *lconn) next() bool {
	cc, cfg := lc.cc, &lc.l.rt.cfg
	br := cc.br
	for {
		n := br.Buffered()
		if n == 0 {
			if !lc.readable {
				return false
			}
			if _, err := br.Peek(1); err != nil {
				if err != errWouldBlock {
					lc.close() // EOF or an error between requests: just close
					return false
				}
				lc.readable = false
				return false
			}
			lc.readable = !cc.drained || lc.hup
			continue
		}
		b, _ := br.Peek(n)
		if lc.first && b[0] == tlsHandshake {
			lc.handOff(handServe)
			return false
		}
		if lc.start.IsZero() {
			lc.start = lc.l.now
		}
		skip, end := headSpan(b)
		if end < 0 {
			if skip < 0 || n >= br.Size() {
				lc.handOff(handServe) // too many empty lines, a head too large for the buffer
				return false
			}
			if !lc.partial {
				// As on the goroutine path: only a partial head gets the
				// read-header deadline.
				lc.partial = true
				lc.setReadDL(lc.start.Add(cfg.ReadHeaderTimeout).UnixNano())
			}
			if !lc.readable {
				return false
			}
			if _, err := br.Peek(n + 1); err != nil && err != errWouldBlock {
				lc.close()
				return false
			}
			lc.readable = !cc.drained || lc.hup
			continue
		}
		if end > cfg.MaxHeaderBytes {
			lc.handOff(handServe) // 431
			return false
		}
		req := &cc.req
		if err := req.parse(string(b[skip : skip+end])); err != nil {
			lc.handOff(handServe) // the refusal
			return false
		}
		if !lc.x.start(skip, end) {
			lc.handOff(handServe)
			return false
		}
		return true
	}
}

// headSpan finds a whole request head at the start of b as wire.ReadHead
// reads it: skip is the length of the empty lines before it (-1 when
// there are more than ReadHead allows), end its length through its empty
// line (-1: not whole yet).
func headSpan(b []byte) (skip, end int) {
	for lines := 0; ; lines++ {
		switch {
		case skip < len(b) && b[skip] == '\n':
			skip++
		case skip+1 < len(b) && b[skip] == '\r' && b[skip+1] == '\n':
			skip += 2
		default:
			return skip, wire.HeadEnd(b[skip:])
		}
		if lines > 4 {
			return -1, -1
		}
	}
}

// setReadDL sets the deadline of the wait for the client or the app's
// start.
func (lc *lconn) setReadDL(d int64) {
	lc.readDL = d
	lc.l.schedule(d)
}

func (lc *lconn) deadline() int64 {
	d := int64(0)
	for _, t := range [...]int64{lc.readDL, lc.sendDL} {
		if t != 0 && (d == 0 || t < d) {
			d = t
		}
	}
	return d
}

// expired ends what the deadlines that passed end; true when that
// closed or handed the connection.
func (lc *lconn) expired(now int64) bool {
	switch {
	case lc.sendDL != 0 && now >= lc.sendDL:
		// The client took nothing for the send timeout.
		lc.fail()
		return true
	case lc.readDL != 0 && now >= lc.readDL:
		if lc.x.on {
			lc.readDL = 0
			lc.x.startTimedOut()
			return true
		}
		lc.close() // the read-header or idle timeout: just close
		return true
	}
	return false
}

// idle says whether the connection waits between two requests, with
// nothing read of the next: Shutdown closes it.
func (lc *lconn) idle() bool {
	return !lc.first && !lc.x.on && lc.off == len(lc.out) && lc.start.IsZero() && lc.cc.br.Buffered() == 0
}

// answered sets what follows an answer the exchange finished: the
// goroutine path's finishRequest decisions, where sending happens later.
func (lc *lconn) answered(res result) {
	cc, cfg := lc.cc, &lc.l.rt.cfg
	req := &cc.req
	lc.first, lc.partial, lc.start = false, false, time.Time{}
	switch {
	case !res.close:
		if req.Close || cc.srv.shutdown.Load() {
			lc.after = afterClose
			return
		}
		lc.after = afterNext
		lc.setReadDL(lc.l.nowNS + int64(cfg.IdleTimeout))
	case res.status == statusClientGone:
		lc.after = afterClose
		lc.off, lc.out = 0, lc.out[:0]
	case req.Close && cc.br.Buffered() == 0:
		lc.after = afterClose
	default:
		lc.after = afterLinger
	}
}

// fail ends the connection after a send failed or timed out, and the
// exchange in progress with it.
func (lc *lconn) fail() {
	if lc.x.on {
		lc.x.cut(nil)
	}
	lc.close()
}

// abort is Close's end of the connection: an exchange in progress ends
// as when the client leaves.
func (lc *lconn) abort() {
	if lc.x.on {
		lc.x.gone()
	}
	lc.close()
}

// unlink takes lc out of the loop's connections.
func (lc *lconn) unlink() {
	l := lc.l
	last := len(l.conns) - 1
	l.conns[lc.at] = l.conns[last]
	l.conns[lc.at].at = lc.at
	l.conns[last] = nil
	l.conns = l.conns[:last]
}

// close ends the connection (an exchange in progress must be over).
func (lc *lconn) close() {
	cc := lc.cc
	if cc == nil {
		return
	}
	lc.unlink()
	lc.l.drop(lc.fd)
	lc.cc = nil
	cc.br.Reset(nil)
	readerPool.Put(cc.br)
	cc.br = nil
	cc.srv.wg.Done()
}

// route is the goroutine path's choice for a request (handle): an app
// that the loop may serve, or nil for everything else.
func (lc *lconn) route(req *request) (*route, *appState) {
	cc := lc.cc
	host := normalizeHost(req.Host)
	if strings.HasPrefix(req.Path, acmeChallengePrefix) {
		return nil, nil
	}
	rte := lc.l.rt.table.Load().lookup(host, req.Path)
	if rte == nil || rte.held || cc.toHTTPS(rte, req) {
		return nil, nil
	}
	return rte, rte.app
}
