package main

import (
	"bufio"
	"fmt"
	"net/netip"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// handler is what an epoll event of a descriptor reaches: a client or
// an upstream connection.
type handler interface{ event(ev uint32) }

// loop is one event loop: an epoll descriptor, the connections it
// accepted and their upstream connections, on one locked thread. No
// state is shared between loops but the listening socket, the read-only
// routes and the request-id counter.
type loop struct {
	p    *proxy
	epfd int
	fds  []handler // by descriptor
	// pools[i] holds the idle kept-alive connections to p.paths[i].
	pools [][]*upstream
	// bw writes heads (wire's writers take a bufio.Writer) into a
	// connection's own buffer (appender).
	bw  *bufio.Writer
	app appender
	sa  unix.RawSockaddrAny
}

// Upstream pools keep at most this many idle connections per path and
// loop (nginx's keepalive 128 in the benchmark's configuration).
const maxIdle = 128

func newLoop(p *proxy) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	l := &loop{p: p, epfd: epfd, pools: make([][]*upstream, len(p.paths))}
	l.bw = bufio.NewWriterSize(&l.app, 4096)
	// Level-triggered with EPOLLEXCLUSIVE, as nginx registers its
	// listening sockets when accept_mutex is off: one waiting loop is
	// woken per new connection, not all of them.
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: int32(p.lfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, p.lfd, &ev); err != nil {
		return nil, fmt.Errorf("epoll_ctl listener: %w", err)
	}
	return l, nil
}

// run is the loop. Events are hints: a flag says that a socket may be
// readable or writable, and the calls find out. So an event that still
// names a descriptor closed and reused within the same batch costs a
// call that returns EAGAIN, nothing worse.
func (l *loop) run() {
	runtime.LockOSThread()
	events := make([]unix.EpollEvent, 512) // nginx's default
	for {
		// The ordinary (blocking-aware) call: the loop's P is handed off
		// while it sleeps here.
		n, err := unix.EpollWait(l.epfd, events, -1)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			panic("epoll_wait: " + err.Error())
		}
		for i := range events[:n] {
			ev := &events[i]
			fd := int(ev.Fd)
			if fd == l.p.lfd {
				l.accept()
				continue
			}
			if fd < len(l.fds) && l.fds[fd] != nil {
				l.fds[fd].event(ev.Events)
			}
		}
	}
}

// accept takes one connection per event, as nginx without multi_accept:
// the level-triggered listener reports again while more wait, and
// another loop may take them meanwhile.
func (l *loop) accept() {
	fd, e := accept4(l.p.lfd, &l.sa)
	if e != 0 {
		return // EAGAIN: another loop was first; ECONNABORTED and the like
	}
	c := &client{l: l, fd: fd, in: make([]byte, 4096)}
	if l.sa.Addr.Family == unix.AF_INET {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&l.sa))
		c.ip = netip.AddrFrom4(sa.Addr).String()
	}
	if !l.add(fd, c, unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLET) {
		unix.Close(fd)
	}
}

// add registers fd, edge-triggered. Sockets are registered for input
// only; EPOLLOUT is added (watchOut) only after a send found the socket
// full: on a unix socket every read of the peer would otherwise report
// an EPOLLOUT edge, one more event per request.
func (l *loop) add(fd int, h handler, events uint32) bool {
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

// watchOut adds EPOLLOUT to fd's registration (once: it stays).
func (l *loop) watchOut(fd int) {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd)}
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, fd, &ev)
}

// drop forgets fd and closes it (closing removes it from the epoll set).
func (l *loop) drop(fd int) {
	l.fds[fd] = nil
	unix.Close(fd)
}

// appender is the bufio.Writer's target: it appends to a connection's
// buffer, set before each head is written.
type appender struct{ b *[]byte }

func (a *appender) Write(p []byte) (int, error) {
	*a.b = append(*a.b, p...)
	return len(p), nil
}

// writer returns the loop's head writer, appending to *b.
func (l *loop) writer(b *[]byte) *bufio.Writer {
	l.app.b = b
	return l.bw
}
