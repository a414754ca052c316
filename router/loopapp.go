// An exchange with an app in a loop: the caps, the app connection and
// its pool, the request, the answer's head and body.

package router

import (
	"bufio"
	"io"
	"os"
	"time"
	"unsafe"

	"github.com/ehecoatl/ehecoatl/router/wire"
	"golang.org/x/sys/unix"
)

// lapp is a connection to an app socket a loop owns: in an exchange of
// one client (owner), or idle in the loop's pool.
type lapp struct {
	l     *loop
	fd    int
	c     *uconn
	owner *lexchange
	// out is the request head, out[sent:] still to go.
	out  []byte
	sent int
	edges
	// gen is the upstream's gen when the connection was made or pooled;
	// at is its index in the pool while idle.
	gen uint64
	at  int
}

func (p *lapp) event(ev uint32) {
	p.note(ev)
	if x := p.owner; x != nil {
		x.lc.drive()
		return
	}
	if p.readable {
		p.idleEvent()
	}
}

// idleEvent: anything readable on a pooled connection is the app closing
// it (or sending what nobody asked for).
func (p *lapp) idleEvent() {
	var b [1]byte
	if _, e := nbRecv(p.fd, b[:]); e == unix.EAGAIN {
		p.readable = false
		return
	}
	p.l.unpool(p)
	p.close()
}

func (p *lapp) close() {
	p.owner = nil
	p.l.drop(p.fd)
}

// getApp takes an idle connection to up from the pool, or connects a new
// one; nil when the connect fails or would wait (the goroutine path then
// dials, under its timeout).
func (l *loop) getApp(up *upstream) *lapp {
	now := l.nowNS
	gen := up.gen.Load()
	for {
		pool := l.pools[up]
		n := len(pool)
		if n == 0 {
			break
		}
		p := pool[n-1]
		l.unpool(p)
		idle := now - p.c.idleSince
		if p.gen != gen || idle > up.idleTimeout.Load() || idle > probeAfter && !p.alive() {
			p.close()
			continue
		}
		p.c.reused = true
		return p
	}
	return l.dial(up, gen)
}

// alive peeks at an idle connection: nothing must be there to read.
func (p *lapp) alive() bool {
	var b [1]byte
	_, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(p.fd), uintptr(unsafe.Pointer(&b[0])), 1, unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
	return e == unix.EAGAIN
}

// dial connects a new non-blocking connection: on a unix socket the
// connect completes at once or fails.
func (l *loop) dial(up *upstream, gen uint64) *lapp {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: up.path}); err != nil {
		unix.Close(fd)
		return nil
	}
	c := &uconn{up: up, inLoop: true, lfd: fd}
	c.br = bufio.NewReaderSize((*uconnReader)(c), upstreamReadBuf)
	p := &lapp{l: l, fd: fd, c: c, gen: gen}
	if !l.add(fd, p, unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLET) {
		unix.Close(fd)
		return nil
	}
	return p
}

// put pools p after a complete answer; a connection with more bytes than
// the answer framed, or beyond the pool's cap, is closed.
func (l *loop) put(p *lapp) {
	p.owner = nil
	up := p.c.up
	pool := l.pools[up]
	if p.hup || p.c.br.Buffered() > 0 || len(pool) >= up.maxIdle || p.gen != up.gen.Load() {
		p.close()
		return
	}
	if len(l.pools) == 0 {
		l.reapAt = l.nowNS + int64(loopPoll)
	}
	p.c.idleSince = l.nowNS
	p.at = len(pool)
	l.pools[up] = append(pool, p)
	up.loopIdle.Add(1)
	if p.readable && p.c.drained {
		p.readable = false
	}
	if p.readable {
		p.idleEvent() // whatever arrived meanwhile (EOF) is looked at now
	}
}

func (l *loop) unpool(p *lapp) {
	up := p.c.up
	up.loopIdle.Add(-1)
	pool := l.pools[up]
	last := len(pool) - 1
	pool[p.at] = pool[last]
	pool[p.at].at = p.at
	pool[last] = nil
	if last == 0 {
		delete(l.pools, up)
		return
	}
	l.pools[up] = pool[:last]
}

// reap closes pooled connections idle for longer than their upstream's
// idle timeout, or pooled before it dropped its own (upstream.reap), as
// the goroutine path's pools do: they must not keep an idle app alive.
func (l *loop) reap(now int64) {
	for up, pool := range l.pools {
		gen, limit := up.gen.Load(), up.idleTimeout.Load()
		for i := len(pool) - 1; i >= 0; i-- {
			if p := pool[i]; p.gen != gen || now-p.c.idleSince > limit {
				l.unpool(p)
				p.close()
				pool = l.pools[up]
			}
		}
	}
}

func (l *loop) dropPools() {
	for up, pool := range l.pools {
		for _, p := range pool {
			up.loopIdle.Add(-1)
			p.close()
		}
	}
	clear(l.pools)
}

// lexchange is the exchange of an lconn with an app, the loop's part of
// what serveApp, forward and exchange do on the goroutine path.
type lexchange struct {
	lc  *lconn
	on  bool
	rte *route
	a   *appState
	up  *upstream
	p   *lapp
	// counted: the client's cap was taken (clientLimiter.acquire).
	counted bool
	since   int64
	fresh   bool
	// arrived: the answer's first byte is in; headDone: its head went to
	// the client, and left bytes of its body are still to be relayed.
	arrived, headDone bool
	rh                respHead
	left              int64
	closeClient       bool
	// tx is cc.tx before the answer; begun when its head began; startDL
	// the start deadline of a fresh connection.
	tx      int64
	begun   time.Time
	startDL time.Time
	// ended: the client's end (EOF or an error) was read before the
	// answer. The goroutine path decides what that means, as it would
	// have: nothing for an answer within watchAfter, the client gone
	// after (uconn.go).
	ended bool
}

// start begins the exchange of the request just parsed (its head is
// b[skip:skip+end] in the read buffer), taking what serveApp takes; false
// leaves everything as it was, for the goroutine path.
func (x *lexchange) start(skip, end int) bool {
	lc := x.lc
	cc, l := lc.cc, lc.l
	rt := l.rt
	req := &cc.req
	if req.ContentLength != 0 || req.Upgrade != "" {
		return false
	}
	rte, a := lc.route(req)
	if a == nil {
		return false
	}
	t := a.tenant
	ok, counted := rt.clients.acquire(t, cc.key)
	if !ok {
		return false
	}
	release := func() {
		if counted {
			rt.clients.release(t, cc.key)
		}
	}
	if !t.tryAcquire() {
		release()
		return false
	}
	up := a.readyNow(nil)
	if up == nil {
		t.release()
		release()
		return false
	}
	var p *lapp
	// The goroutine path asks systemd, once per instance.
	if !rt.coldAsks(a, up) {
		p = l.getApp(up)
	}
	if p == nil {
		up.active.Add(-1)
		t.release()
		release()
		return false
	}

	// From here on it is the loop's.
	cc.br.Discard(skip + end)
	cc.headLen = end
	cc.markHead(end)
	cc.reqID = newRequestID(req.RequestID, cc.trusted)
	cc.hsts = rte.hsts && cc.secure(req)
	*x = lexchange{lc: lc, on: true, rte: rte, a: a, up: up, p: p, counted: counted, tx: cc.tx, begun: lc.start, rh: respHead{Response: wire.Response{Listed: x.rh.Listed}}}
	now := l.now
	a.begin(lc.start.UnixNano())
	x.since = rt.coldSince(a, up)
	c := p.c
	c.begin(cc, false)
	c.coldSince = x.since
	x.fresh = !c.reused
	lc.readDL = 0 // the client's timeouts are for its requests, not for the app
	if x.fresh && rt.cfg.StartTimeout > 0 {
		x.startDL = now.Add(rt.cfg.StartTimeout)
		lc.setReadDL(x.startDL.UnixNano())
	}
	p.owner, p.out, p.sent = x, p.out[:0], 0
	bw := l.writer(&p.out)
	wire.WriteRequestHead(bw, &req.Request, wire.Peer{IP: cc.ip, TLS: cc.tls, Trusted: cc.trusted, RequestID: cc.reqID.AppendTo(cc.idBuf[:0])})
	bw.Flush()
	return true
}

// advance moves the exchange on; false when it waits for an event (or
// ended the connection).
func (x *lexchange) advance() bool {
	if !x.headDone {
		return x.head()
	}
	return x.relay()
}

// head sends the request and reads the answer's head.
func (x *lexchange) head() bool {
	lc, p := x.lc, x.p
	c := p.c
	if lc.readable {
		x.watch()
	}
	for p.sent < len(p.out) {
		if p.blocked {
			return false
		}
		n, e := nbSend(p.fd, p.out[p.sent:])
		switch {
		case e == unix.EAGAIN:
			p.full(p.l, p.fd)
			return false
		case e != 0:
			c.werr = e
			x.handOver(resumeWrite)
			return false
		}
		p.sent += n
	}
	if x.ended {
		x.handOver(resumeRead)
		return false
	}
	br := c.br
	for {
		n := br.Buffered()
		if n == 0 {
			// Nothing before the answer's edge: no read finds nothing.
			if !p.readable {
				return false
			}
			if _, err := br.Peek(1); err != nil {
				if err == errWouldBlock {
					p.readable = false
					return false
				}
				x.handOver(resumeRead) // EOF, an error: the goroutine path reads it again
				return false
			}
			p.readable = !c.drained || p.hup
			continue
		}
		if !x.arrived {
			x.arrived = true
			if c.coldSince != 0 || c.up.warm.Load() != warmYes {
				lc.l.rt.answered(x.a, c.up, c.coldSince)
				c.coldSince = 0
			}
			lc.readDL = 0 // the start timeout no longer applies
		}
		b, _ := br.Peek(n)
		end := wire.HeadEnd(b)
		if end < 0 {
			if n >= br.Size() {
				x.handOver(resumeRead) // too large: refused there
				return false
			}
			if !p.readable {
				return false
			}
			if _, err := br.Peek(n + 1); err != nil && err != errWouldBlock {
				x.handOver(resumeRead)
				return false
			}
			p.readable = !c.drained || p.hup
			continue
		}
		rh := &x.rh
		*rh = respHead{}
		rh.Listed = c.connTokens
		err := wire.ScanResponse(&rh.Response, b[:end], lc.cc.req.Method == "HEAD")
		c.connTokens = rh.Listed[:0]
		switch {
		case err != nil, rh.Status == 101, !rh.NoBody && rh.Length < 0:
			// A bad head, an upgrade nobody asked for, a chunked or
			// unframed body: the goroutine path's.
			x.handOver(resumeRead)
			return false
		case rh.Status < 200:
			br.Discard(end) // 100 Continue, 103 Early Hints: skipped
			continue
		}
		x.sendHead(b[:end])
		br.Discard(end)
		// The body that came with the head joins it in out: one send.
		return x.relay()
	}
}

// sendHead writes the answer's head to the client, as exchange does.
func (x *lexchange) sendHead(block []byte) {
	lc := x.lc
	cc := lc.cc
	req := &cc.req
	x.closeClient = req.Close || cc.srv.shutdown.Load()
	if cc.hsts {
		x.rh.Extra = hstsField
	}
	if lc.out == nil {
		lc.out = lc.l.buf()
	}
	bw := lc.l.writer(&lc.out)
	x.rh.clPassed = wire.WriteResponseHead(bw, block, &x.rh.Response, x.closeClient, req.HTTP10 && !x.closeClient, false)
	bw.Flush()
	x.headDone = true
	x.left = 0
	if !x.rh.NoBody {
		x.left = x.rh.Length
	}
}

// relayMax is how much of a body a loop holds for a client that has not
// taken it yet: the app is read again once that is sent.
const relayMax = 32 << 10

// relay moves the body from the app's buffer to the client's, never
// faster than the client takes it.
func (x *lexchange) relay() bool {
	lc, p := x.lc, x.p
	c := p.c
	br := c.br
	for x.left > 0 {
		pending := len(lc.out) - lc.off
		if pending >= relayMax {
			return true // drive sends first
		}
		if n := br.Buffered(); n > 0 {
			k := int(min(int64(n), x.left, int64(relayMax-pending)))
			b, _ := br.Peek(k)
			lc.out = append(lc.out, b...)
			br.Discard(k)
			x.left -= int64(k)
			continue
		}
		if !p.readable {
			return pending > 0 // send what is there, else wait for the app
		}
		// Straight from the socket into out: a large body is not copied
		// through the read buffer, and is read relayMax at a time.
		lc.out = lc.l.grow(lc.out, relayMax-pending)
		want := int(min(int64(cap(lc.out)-len(lc.out)), x.left))
		m, e := nbRecv(p.fd, lc.out[len(lc.out):len(lc.out)+want])
		switch {
		case e == unix.EAGAIN:
			p.readable = false
			return pending > 0
		case e != 0:
			x.cut(os.NewSyscallError("read", e))
			return true
		case m == 0:
			x.cut(io.ErrUnexpectedEOF)
			return true
		}
		lc.out = lc.out[:len(lc.out)+m]
		x.left -= int64(m)
		p.readable = m == want || p.hup
	}
	if x.rh.Close {
		p.close()
	} else {
		lc.l.put(p)
	}
	x.p = nil
	x.finish(result{status: x.rh.Status, close: x.closeClient})
	return true
}

// watch reads the client while the app has not answered: a pipelined
// request waits in the buffer; the client's end is noted (ended) and
// the exchange handed over once its request is sent.
func (x *lexchange) watch() {
	lc := x.lc
	br := lc.cc.br
	for lc.readable && br.Buffered() < br.Size() {
		if _, err := br.Peek(br.Buffered() + 1); err != nil {
			if err != errWouldBlock {
				x.ended = true
			}
			lc.readable = false
			return
		}
		lc.readable = !lc.cc.drained || lc.hup
	}
}

// gone ends the exchange of a client that left before the answer.
func (x *lexchange) gone() {
	if x.p != nil {
		x.p.close()
		x.p = nil
	}
	x.finish(result{status: statusClientGone, close: true})
}

// cut ends an exchange whose body could not be relayed to its end: the
// app failed (err) or the client did (nil). The client connection
// closes, its answer cut short.
func (x *lexchange) cut(err error) {
	if err != nil {
		x.lc.l.rt.appLogf(x.a, "%s: response body: %v", x.up.path, err)
	}
	if x.p != nil {
		x.p.close()
		x.p = nil
	}
	status := x.rh.Status
	if !x.headDone {
		status = statusClientGone
	}
	x.finish(result{status: status, close: true})
}

// startTimedOut: a fresh connection's app did not answer within the
// start timeout. The goroutine path answers that (upstreamError).
func (x *lexchange) startTimedOut() { x.handOver(resumeTimeout) }

// finish ends the exchange the loop answered: it gives back what start
// took and logs the request.
func (x *lexchange) finish(res result) {
	lc := x.lc
	cc, rt := lc.cc, lc.l.rt
	x.giveBack(rt, cc.key, res.status, lc.l.nowNS)
	cc.logRequest(&cc.req, x.rte, x.a, res, x.begun, cc.tx+int64(len(lc.out)-lc.off)-x.tx)
	x.on = false
	lc.answered(res)
}

// giveBack gives back what start took, as serveApp's and forward's
// defers do, for an exchange that ended with status at now (unix ns),
// in the loop or after a hand-over (serveResumed). key is the client's.
func (x *lexchange) giveBack(rt *Router, key string, status int, now int64) {
	t := x.a.tenant
	x.up.active.Add(-1)
	rt.observe(x.a, x.up, status)
	x.a.end(now)
	t.release()
	if x.counted {
		rt.clients.release(t, key)
	}
}
