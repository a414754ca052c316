// Handing a loop's connection to the goroutine path.

package router

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"runtime"
	"time"
)

// What a client connection is handed over for.
const (
	handServe  = iota // the request in its buffer (or the first one): serveLoop
	handLinger        // its answer is sent: linger, then close
)

// Where a handed-over exchange resumes: the goroutine path reads the
// app's answer (exchangeRest) in every case, and finds the error, the
// timeout or the head it must relay there.
const (
	resumeRead    = iota // the answer, or what ended it, is in the app's buffer or socket
	resumeWrite          // the request could not be written (uconn.werr)
	resumeTimeout        // the start timeout passed
)

// handOff gives the connection to the goroutine path.
func (lc *lconn) handOff(mode int) {
	first, begun, dl := lc.first, lc.start, lc.readDL
	if lc.partial {
		dl = 0 // serveLoop sets the read-header deadline from begun
	}
	cc := lc.release()
	go cc.serveHanded(mode, first, begun, dl)
}

// release takes the client connection out of the loop and makes it one
// the goroutine path serves: its descriptor in Go's poller, its state (the
// read buffer, the counts) as the loop left it.
func (lc *lconn) release() *clientConn {
	cc := lc.cc
	lc.unlink()
	lc.l.forget(lc.fd)
	lc.cc = nil
	// os.NewFile registers the non-blocking socket with the poller, as
	// bareListener's connections.
	f := os.NewFile(uintptr(lc.fd), "tcp")
	bc := &bareConn{File: f, laddr: lc.laddr, raddr: lc.raddr}
	cc.c, cc.raw = bc, bc
	cc.rawFD = -1
	s := cc.srv
	s.mu.Lock()
	s.conns[cc] = struct{}{}
	s.mu.Unlock()
	if s.closed.Load() {
		// Close has gone over the connections already.
		bc.Close()
	}
	return cc
}

// serveHanded serves a connection a loop handed over. dl (unix ns) is the
// deadline of the wait for the request, which stays: a TLS handshake or
// a slow head gets no more time for having been handed over.
func (cc *clientConn) serveHanded(mode int, first bool, begun time.Time, dl int64) {
	defer cc.close()
	defer cc.recoverPanic()
	if mode == handLinger {
		cc.lingerDrain()
		return
	}
	wait := cc.rt.cfg.IdleTimeout
	if first {
		wait = cc.rt.cfg.ReadHeaderTimeout
	}
	armed := dl != 0
	if armed {
		cc.dl = time.Unix(0, dl)
		cc.c.SetReadDeadline(cc.dl)
	}
	cc.serveLoop(first, wait, begun, armed)
}

// recoverPanic: a bug must cost one connection, not every tenant's
// traffic.
func (cc *clientConn) recoverPanic() {
	if v := recover(); v != nil {
		buf := make([]byte, 16<<10)
		buf = buf[:runtime.Stack(buf, false)]
		cc.rt.cfg.Logger.Error("panic serving a connection", "remote", cc.ip, "panic", fmt.Sprint(v), "stack", string(buf))
	}
}

// handOver gives the exchange in progress, and its client connection, to
// the goroutine path, which goes on from the read of the answer's head.
func (x *lexchange) handOver(why int) {
	lc, p := x.lc, x.p
	c := p.c
	p.l.forget(p.fd)
	p.owner = nil
	f := os.NewFile(uintptr(p.fd), "app")
	nc, err := net.FileConn(f) // a duplicate, in Go's poller
	f.Close()
	var uc *net.UnixConn
	if err == nil {
		uc, _ = nc.(*net.UnixConn)
	}
	if uc == nil {
		if nc != nil {
			nc.Close()
		}
		// Nothing to go on with: as an app that failed before answering.
		x.p = nil
		x.cut(nil)
		return
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		uc.Close()
		x.p = nil
		x.cut(nil)
		return
	}
	c.c, c.rc, c.inLoop, c.lfd = uc, rc, false, -1
	c.bw = bufio.NewWriterSize(uc, upstreamWriteBuf)
	if !x.arrived {
		c.startDeadline = x.startDL
	}
	if why == resumeTimeout {
		// The wait is over: the read fails at once, as the goroutine
		// path's after its start deadline.
		c.armed = true
		c.setReadDeadline(aLongTimeAgo)
	} else {
		c.armRead(time.Now())
	}
	lc.readDL = 0
	st := *x
	x.on, x.p = false, nil
	cc := lc.release()
	go cc.serveResumed(&st)
}

// serveResumed is the rest of handle for an exchange a loop began.
func (cc *clientConn) serveResumed(x *lexchange) {
	defer cc.close()
	defer cc.recoverPanic()
	rt, req := cc.rt, &cc.req
	cc.takeWriter()
	res, retry := rt.exchangeRest(cc, req, x.a, x.p.c, false, nil, x.fresh)
	res, _ = rt.retried(cc, req, x.a, x.up, res, retry, x.since, false)
	x.giveBack(rt, cc.key, res.status, time.Now().UnixNano())
	keep := cc.finishRequest(req, x.rte, x.a, res, x.begun, x.tx)
	cc.releaseWriter()
	if !keep {
		return
	}
	cc.serveLoop(false, rt.cfg.IdleTimeout, time.Time{}, false)
}
