package main

import (
	"golang.org/x/sys/unix"
)

// upstream is one connection to an app's unix socket, owned by a loop:
// in an exchange of one client (c), or idle in the loop's pool.
type upstream struct {
	l    *loop
	fd   int
	path int // index into proxy.paths
	// in holds what was read of the answer, in[r:w] not yet relayed;
	// 8 KiB, the router's app read buffer.
	in   []byte
	r, w int
	// readable: an input edge (data, EOF, error) not yet read to a short
	// read; blocked: the last send found the socket full, EPOLLOUT is
	// watched and will clear it.
	readable, blocked, outWatched bool
	// reused: taken from the pool, so a failure before any answer may be
	// an app that closed it meanwhile (the request is sent again).
	reused bool
	c      *client
	idleAt int // position in the pool while idle
}

// getUpstream takes an idle connection to path from the loop's pool or
// connects a new one; nil when the connect fails.
func (l *loop) getUpstream(path int) *upstream {
	pool := l.pools[path]
	if n := len(pool); n > 0 {
		u := pool[n-1]
		pool[n-1] = nil
		l.pools[path] = pool[:n-1]
		u.reused = true
		return u
	}
	return l.dial(path)
}

// dial connects a new non-blocking connection. A unix socket's connect
// completes at once or fails; EAGAIN (the app's backlog is full) is a
// failure here, where the router would wait (its dial timeout).
func (l *loop) dial(path int) *upstream {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: l.p.paths[path]}); err != nil {
		unix.Close(fd)
		return nil
	}
	u := &upstream{l: l, fd: fd, path: path, in: make([]byte, 8<<10)}
	if !l.add(fd, u, unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLET) {
		unix.Close(fd)
		return nil
	}
	return u
}

// put returns u to its pool after a complete answer; an answer followed
// by more bytes than it framed makes u unusable.
func (u *upstream) put() {
	u.c = nil
	pool := u.l.pools[u.path]
	if u.r != u.w || len(pool) >= maxIdle {
		u.close()
		return
	}
	u.idleAt = len(pool)
	u.l.pools[u.path] = append(pool, u)
	if u.readable {
		u.event(0) // whatever arrived meanwhile (EOF) is looked at now
	}
}

// close closes u (never while it is in the pool).
func (u *upstream) close() {
	u.c = nil
	u.l.drop(u.fd)
}

func (u *upstream) event(ev uint32) {
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		u.readable = true
	}
	if ev&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		u.blocked = false
	}
	if u.c != nil {
		u.c.drive()
		return
	}
	if !u.readable {
		return
	}
	// Idle in the pool: anything readable is the app closing it (or
	// sending what nobody asked for).
	var b [1]byte
	if _, e := recv(u.fd, b[:]); e == unix.EAGAIN {
		u.readable = false
		return
	}
	pool := u.l.pools[u.path]
	last := len(pool) - 1
	pool[u.idleAt] = pool[last]
	pool[u.idleAt].idleAt = u.idleAt
	pool[last] = nil
	u.l.pools[u.path] = pool[:last]
	u.close()
}

// sendReq sends what is left of the client's request head; false while
// it waits for room (or after a failure, which it has handled).
func (u *upstream) sendReq(c *client) (done, failed bool) {
	for c.sent < len(c.reqBuf) {
		if u.blocked {
			return false, false
		}
		n, e := send(u.fd, c.reqBuf[c.sent:])
		switch {
		case e == unix.EAGAIN:
			u.blocked = true
			if !u.outWatched {
				u.outWatched = true
				u.l.watchOut(u.fd)
			}
			return false, false
		case e != 0:
			return false, true
		}
		c.sent += n
	}
	return true, false
}

// fill reads the socket once into in[w:]: ok false on EOF or an error,
// more false when nothing more is to be had before the next edge.
func (u *upstream) fill() (ok bool) {
	if u.r == u.w {
		u.r, u.w = 0, 0
	} else if u.w == len(u.in) && u.r > 0 {
		u.w = copy(u.in, u.in[u.r:u.w])
		u.r = 0
	}
	room := len(u.in) - u.w
	n, e := recv(u.fd, u.in[u.w:])
	switch {
	case e == unix.EAGAIN:
		u.readable = false
		return true
	case e != 0 || n == 0:
		return false
	}
	if n < room {
		u.readable = false // drained, as nginx decides
	}
	u.w += n
	return true
}
