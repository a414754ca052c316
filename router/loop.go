// The epoll loops: plain HTTP/1.1 served outside Go's poller.

package router

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Why: a proxied request on the goroutine path parks its goroutine twice
// in Go's poller (waiting for the app's answer, then for the client's
// next request), and the scheduler's work around those waits was a
// quarter of the router's CPU per request against nginx's event loop
// (docs/DESIGN.md "Router: what a proxied request costs"). A loop is one
// locked thread with an epoll set of its own: it accepts, reads heads,
// forwards to the app, relays answers with a Content-Length and reads the
// next request without any goroutine switch.
//
// The loops serve only what is common and simple: a plain HTTP/1.1 or
// 1.0 request without a body or an upgrade, to an app route, with room
// under the client and tenant caps and a worker up, answered with a
// length. Everything else is handed to the goroutine path, which serves
// it as it serves every connection without loops (handoff.go): a TLS
// connection, a request with a body, an upgrade, a 404, a refusal, a
// redirect, a held app, a chunked or unframed answer, an app that fails
// or times out. The hand-off happens at the points where the goroutine
// path's state is a function of what was read (the client's buffer, the
// app's buffer), so both paths answer the same bytes the same way; the
// router's tests run against both (Config.Loops).

// loopFD is what an epoll event of a descriptor reaches.
type loopFD interface{ event(ev uint32) }

// loop is one event loop. It shares with the others only the listening
// sockets and what the goroutine path shares (the table, the counters).
type loop struct {
	s    *Server
	rt   *Router
	epfd int
	// wake is an eventfd that Shutdown and Close write to.
	wake  int
	fds   []loopFD // by descriptor
	conns []*lconn // for the timers, Shutdown and Close
	// pools holds the idle connections to each upstream (loopapp.go).
	pools map[*upstream][]*lapp
	// bw writes heads (wire's writers take a bufio.Writer) into a
	// connection's own buffer.
	bw  *bufio.Writer
	app appender
	sa  unix.RawSockaddrAny
	// next is the earliest deadline of a connection (unix ns, 0: none, it
	// may be earlier than any left), reapAt when the pools are next
	// looked at.
	next, reapAt int64
	// stopping: Shutdown was called; no accept, idle connections close.
	stopping bool
	// now is the time the loop last woke up, read once per wake-up for
	// everything the wake-up does (as nginx's ngx_current_msec): a clock
	// read per deadline, start and pool time was 3% of a loop's CPU.
	now   time.Time
	nowNS int64
	// free holds send buffers: a connection has one only while it has
	// something to send, so that idle ones hold none.
	free [][]byte
	// paused holds the listeners out of the set after a failed accept.
	paused []*loopListener
	// pending holds the listening sockets Serve gave the loop (under mu).
	mu      sync.Mutex
	pending []loopListener
}

// loopListener is a listening socket in a loop's epoll set.
type loopListener struct {
	l    *loop
	fd   int
	addr net.Addr
	// delay is the pause after accept ran out of descriptors or memory,
	// resumeAt (unix ns) when it ends.
	delay    time.Duration
	resumeAt int64
}

func (ll *loopListener) event(uint32) { ll.l.accept(ll) }

// loopPoll is how often a loop looks at its pools for idle connections
// to close, while it has any.
const loopPoll = time.Second

func newLoop(s *Server) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	l := &loop{s: s, rt: s.rt, epfd: epfd, wake: wake, pools: map[*upstream][]*lapp{}}
	l.bw = bufio.NewWriterSize(&l.app, 4<<10)
	if !l.add(wake, loopWake{l}, unix.EPOLLIN|unix.EPOLLET) {
		l.closeFDs()
		return nil, fmt.Errorf("epoll_ctl eventfd: %w", err)
	}
	return l, nil
}

// listen adds a listening socket. Level-triggered with EPOLLEXCLUSIVE,
// as nginx registers its listeners without an accept mutex: one waiting
// loop is woken per new connection, not all of them.
func (l *loop) listen(fd int, addr net.Addr) error {
	for fd >= len(l.fds) {
		l.fds = append(l.fds, nil)
	}
	ll := &loopListener{l: l, fd: fd, addr: addr}
	l.fds[fd] = ll
	if err := l.register(ll); err != nil {
		return fmt.Errorf("epoll_ctl listener: %w", err)
	}
	return nil
}

// register adds ll's socket to the set (again, after a pause).
func (l *loop) register(ll *loopListener) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: int32(ll.fd)}
	return unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, ll.fd, &ev)
}

// resume puts paused listeners whose pause is over back into the set.
func (l *loop) resume(now int64) {
	kept := l.paused[:0]
	for _, ll := range l.paused {
		switch {
		case l.stopping:
		case now >= ll.resumeAt:
			l.register(ll)
		default:
			kept = append(kept, ll)
			l.schedule(ll.resumeAt)
		}
	}
	clear(l.paused[len(kept):])
	l.paused = kept
}

// poke wakes the loop to look at the server's state.
func (l *loop) poke() {
	var one = [8]byte{1}
	unix.Write(l.wake, one[:])
}

type loopWake struct{ l *loop }

func (w loopWake) event(uint32) {
	var b [8]byte
	unix.Read(w.l.wake, b[:])
	w.l.look()
}

// look adds the listening sockets Serve gave and applies Shutdown and
// Close.
func (l *loop) look() {
	s := l.s
	l.mu.Lock()
	pending := l.pending
	l.pending = nil
	l.mu.Unlock()
	for _, ll := range pending {
		if !l.stopping {
			if err := l.listen(ll.fd, ll.addr); err != nil {
				l.rt.logf("%v", err)
			}
		}
	}
	if s.closed.Load() {
		for len(l.conns) > 0 {
			l.conns[len(l.conns)-1].abort()
		}
	}
	if s.shutdown.Load() && !l.stopping {
		l.stopping = true
		for fd, h := range l.fds {
			if ll, ok := h.(*loopListener); ok {
				unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, ll.fd, nil)
				l.fds[fd] = nil
			}
		}
		s.stopped.Done() // Serve may close the listening sockets now
	}
	if l.stopping {
		// As Shutdown on the goroutine path: idle kept-alive connections
		// close now, new ones wait for their first request (bounded by
		// the read-header timeout), busy ones close after their answer.
		for i := len(l.conns) - 1; i >= 0; i-- {
			if lc := l.conns[i]; lc.idle() {
				lc.close()
			}
		}
	}
}

// run is the loop. Events are hints: a flag says that a socket may be
// readable or writable, and the calls find out. So an event that still
// names a descriptor closed and reused within the same batch costs a
// call that returns EAGAIN, nothing worse.
func (l *loop) run() {
	runtime.LockOSThread()
	defer l.closeFDs()
	events := make([]unix.EpollEvent, 512) // nginx's default
	for {
		if l.stopping && len(l.conns) == 0 {
			l.dropPools()
			return
		}
		n, err := l.wait(events)
		l.now = time.Now()
		l.nowNS = l.now.UnixNano()
		if err != nil && err != unix.EINTR {
			l.rt.cfg.Logger.Error("epoll_wait", "error", err.Error())
			return
		}
		for i := range events[:max(n, 0)] {
			ev := &events[i]
			if fd := int(ev.Fd); fd < len(l.fds) && l.fds[fd] != nil {
				l.dispatch(l.fds[fd], ev.Events)
			}
		}
		l.timers()
	}
}

// wait is epoll_wait: first without waiting, a raw call (under load
// events are mostly there already), then, when nothing is, the ordinary
// call that lets the runtime hand the loop's P off while it sleeps.
func (l *loop) wait(events []unix.EpollEvent) (int, error) {
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(l.epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e == 0 && r > 0 {
		return int(r), nil
	}
	return unix.EpollWait(l.epfd, events, l.timeout())
}

// dispatch hands an event to its descriptor's handler. A bug must cost
// one connection, not every tenant's traffic: a panic ends the
// connection the event was for (as on the goroutine path, serve), and
// the loop goes on.
func (l *loop) dispatch(h loopFD, ev uint32) {
	defer func() {
		if v := recover(); v != nil {
			buf := make([]byte, 16<<10)
			buf = buf[:runtime.Stack(buf, false)]
			l.rt.cfg.Logger.Error("panic in an epoll loop", "panic", fmt.Sprint(v), "stack", string(buf))
			l.abandon(h)
		}
	}()
	h.event(ev)
}

// abandon ends the connection of a handler that panicked, giving back
// what its exchange holds if that can still be done.
func (l *loop) abandon(h loopFD) {
	var lc *lconn
	switch h := h.(type) {
	case *lconn:
		lc = h
	case *lapp:
		if h.owner == nil {
			if h.c != nil && h.at < len(l.pools[h.c.up]) && l.pools[h.c.up][h.at] == h {
				l.unpool(h)
			}
			h.close()
			return
		}
		lc = h.owner.lc
	default:
		return
	}
	func() {
		defer func() { recover() }()
		if lc.x.on {
			lc.x.gone()
		}
	}()
	if lc.cc != nil {
		lc.close()
	}
}

// timeout is epoll_wait's: until the earliest deadline, in whole
// milliseconds rounded up; -1 with nothing to wait for.
func (l *loop) timeout() int {
	next := l.next
	if len(l.pools) > 0 && (next == 0 || l.reapAt < next) {
		next = l.reapAt
	}
	if next == 0 {
		return -1
	}
	d := next - l.nowNS
	if d <= 0 {
		return 0
	}
	return int((d + int64(time.Millisecond) - 1) / int64(time.Millisecond))
}

// timers ends the waits whose deadlines have passed and closes pooled
// connections idle too long.
func (l *loop) timers() {
	if l.next == 0 && len(l.pools) == 0 {
		return
	}
	now := l.nowNS
	if l.next != 0 && now >= l.next {
		l.next = 0
		l.resume(now)
		for i := len(l.conns) - 1; i >= 0; i-- {
			if i >= len(l.conns) {
				continue // an expiry closed more than one
			}
			lc := l.conns[i]
			if lc.expired(now) {
				continue
			}
			l.schedule(lc.deadline())
		}
	}
	if len(l.pools) > 0 && now >= l.reapAt {
		l.reapAt = now + int64(loopPoll)
		l.reap(now)
	}
}

// schedule makes sure the loop wakes by d (unix ns; 0: nothing).
func (l *loop) schedule(d int64) {
	if d != 0 && (l.next == 0 || d < l.next) {
		l.next = d
	}
}

// add registers fd, edge-triggered.
func (l *loop) add(fd int, h loopFD, events uint32) bool {
	for fd >= len(l.fds) {
		l.fds = append(l.fds, nil)
	}
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return false
	}
	l.fds[fd] = h
	return true
}

// edges is what the events of an edge-triggered socket said and the
// calls have not used up yet: readable, an input edge not yet read to a
// short read; hup, the peer closed its side (its EOF is still to be read
// after a short read, and no edge will come for it: the data and the end
// came in one); blocked, the last send found the socket full.
type edges struct {
	readable, hup, blocked bool
	// outWatched: EPOLLOUT is in the registration (full).
	outWatched bool
}

// note records an event.
func (e *edges) note(ev uint32) {
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		e.readable = true
	}
	if ev&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		e.hup = true
	}
	if ev&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		e.blocked = false
	}
}

// full records that a send found fd's socket full: the next EPOLLOUT
// edge clears it. EPOLLOUT is added to the registration then, once:
// sockets are registered for input only until a send finds one full,
// since on a unix socket every read of the peer would report an
// EPOLLOUT edge.
func (e *edges) full(l *loop, fd int) {
	e.blocked = true
	if !e.outWatched {
		e.outWatched = true
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd)}
		unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, fd, &ev)
	}
}

// forget removes fd from the loop without closing it (a hand-off).
func (l *loop) forget(fd int) {
	l.fds[fd] = nil
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
}

// drop forgets fd and closes it.
func (l *loop) drop(fd int) {
	l.fds[fd] = nil
	unix.Close(fd)
}

func (l *loop) closeFDs() {
	unix.Close(l.wake)
	unix.Close(l.epfd)
}

// accept takes one connection per event, as nginx without multi_accept:
// the level-triggered listener reports again while more wait, and
// another loop may take them meanwhile.
func (l *loop) accept(ll *loopListener) {
	fd, e := nbAccept(ll.fd, &l.sa)
	switch e {
	case 0:
		ll.delay = 0
	case unix.EAGAIN:
		return // another loop was first
	case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
		// The listener stays readable: take it out of the set for a while
		// (5 ms, doubling to 1 s, as Serve on the goroutine path), or the
		// loop would spin on it.
		ll.delay = min(max(2*ll.delay, 5*time.Millisecond), time.Second)
		l.rt.logf("accept: %v; retrying in %s", e, ll.delay)
		unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, ll.fd, nil)
		ll.resumeAt = l.nowNS + int64(ll.delay)
		l.paused = append(l.paused, ll)
		l.schedule(ll.resumeAt)
		return
	default:
		return
	}
	s := l.s
	s.mu.Lock()
	if s.shutdown.Load() {
		s.mu.Unlock()
		unix.Close(fd)
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	l.newConn(fd, peerAddr(&l.sa), ll.addr)
}

// Send buffers: outBuf is the size a connection's starts with (a head
// and a small body), and the free list is bounded so that a burst of
// large bodies does not stay allocated.
const (
	outBuf  = 4 << 10
	maxFree = 256
)

// buf returns an empty send buffer.
func (l *loop) buf() []byte {
	if n := len(l.free); n > 0 {
		b := l.free[n-1]
		l.free[n-1] = nil
		l.free = l.free[:n-1]
		return b
	}
	return make([]byte, 0, outBuf)
}

// release takes back a buffer that was sent.
func (l *loop) release(b []byte) {
	if b != nil && len(l.free) < maxFree {
		l.free = append(l.free, b[:0])
	}
}

// grow makes room for n more bytes in b.
func (l *loop) grow(b []byte, n int) []byte {
	if b == nil {
		b = l.buf()
	}
	return slices.Grow(b, n)
}

// appender is the loop's bufio.Writer's target: it appends to a
// connection's buffer, set before each head is written.
type appender struct{ b *[]byte }

func (a *appender) Write(p []byte) (int, error) {
	*a.b = append(*a.b, p...)
	return len(p), nil
}

// writer returns the loop's head writer, appending to *b; the caller
// flushes it before the loop does anything else.
func (l *loop) writer(b *[]byte) *bufio.Writer {
	l.app.b = b
	return l.bw
}

// errNoLoops: the listener could not be given to the loops; Serve serves
// it on the goroutine path.
var errNoLoops = errors.New("router: no loops")

// serveLoops serves tl's connections in the loops until Shutdown or
// Close. The loops accept from a duplicate of the socket outside Go's
// poller, and tl itself is closed (the socket stays open): a listener
// in the poller would wake it for every new connection nobody accepts
// there.
func (s *Server) serveLoops(tl *net.TCPListener) error {
	loops, err := s.startLoops()
	if err != nil {
		s.rt.logf("epoll loops: %v; serving on goroutines", err)
		return errNoLoops
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return errNoLoops
	}
	fd, serr := -1, error(nil)
	if err := rc.Control(func(lfd uintptr) {
		// Linux copies TCP_NODELAY to every accepted socket (accept.go).
		if serr = unix.SetsockoptInt(int(lfd), unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); serr == nil {
			fd, serr = unix.FcntlInt(lfd, unix.F_DUPFD_CLOEXEC, 0)
		}
	}); err != nil || serr != nil {
		return errNoLoops
	}
	s.mu.Lock()
	if s.shutdown.Load() {
		s.mu.Unlock()
		unix.Close(fd)
		return ErrServerClosed
	}
	for _, l := range loops {
		l.addListener(fd, tl.Addr())
	}
	s.mu.Unlock()
	tl.Close()
	<-s.stop
	s.stopped.Wait()
	unix.Close(fd)
	return ErrServerClosed
}

// startLoops starts Config.Loops loops, once.
func (s *Server) startLoops() ([]*loop, error) {
	s.loopsOnce.Do(func() {
		n := s.rt.cfg.Loops
		s.stopped.Add(n)
		for range n {
			l, err := newLoop(s)
			if err != nil {
				s.loopsErr = err
				s.stopped.Add(-(n - len(s.loops)))
				break
			}
			s.mu.Lock()
			s.loops = append(s.loops, l)
			s.mu.Unlock()
			go l.run()
		}
		if s.shutdown.Load() {
			s.stopLoops()
		}
	})
	return s.loops, s.loopsErr
}

// stopLoops has the loops look at Shutdown or Close.
func (s *Server) stopLoops() {
	s.stopOnce.Do(func() { close(s.stop) })
	s.mu.Lock()
	loops := s.loops
	s.mu.Unlock()
	for _, l := range loops {
		l.poke()
	}
}

// addListener hands a listening socket to the loop's thread, which adds
// it at its next wake-up (its descriptor table is the thread's alone).
func (l *loop) addListener(fd int, addr net.Addr) {
	l.mu.Lock()
	l.pending = append(l.pending, loopListener{l: l, fd: fd, addr: addr})
	l.mu.Unlock()
	l.poke()
}
