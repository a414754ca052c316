// Accepting client connections with the socket options nginx sets, not
// those Go's net package adds.

package router

import (
	"net"
	"os"
	"strconv"
	"syscall"
)

// bareListener accepts from a TCP listener without the five setsockopt
// calls and the getsockname of net.TCPListener.Accept: Go turns on TCP
// keep-alive probes on every accepted connection (SO_KEEPALIVE,
// TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT; for a listener from systemd's
// file descriptor there is no ListenConfig to turn that off) and sets
// TCP_NODELAY. The router needs no keep-alive probes: every client
// connection is under the read-header, idle, body or send timeout, and a
// tunnel (WebSocket) ends when the app's side does
// (docs/OPERATIONS.md "Timeouts"). TCP_NODELAY it needs (a streamed
// response flushes small writes, which Nagle's algorithm would hold for an
// ACK), and Linux copies it from the listening socket to every
// connection accept returns, so it is set once there. What is left per
// connection is accept4, the fcntl of os.NewFile and the poller's
// epoll_ctl, what nginx does.
type bareListener struct {
	*net.TCPListener
	// f is a duplicate of the listening socket: net's RawConn of a
	// listener refuses Read, os.File's allows it, with the same poller.
	f  *os.File
	rc syscall.RawConn
}

// newBareListener wraps l, setting TCP_NODELAY on the listening socket; on
// any error it returns l itself, which accepts the way net does.
func newBareListener(l *net.TCPListener) net.Listener {
	f, err := l.File()
	if err != nil {
		return l
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return l
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	}); err != nil || serr != nil {
		f.Close()
		return l
	}
	return &bareListener{TCPListener: l, f: f, rc: rc}
}

// Close closes both descriptors of the listening socket (a blocked Accept
// returns).
func (l *bareListener) Close() error {
	l.f.Close()
	return l.TCPListener.Close()
}

func (l *bareListener) Accept() (net.Conn, error) {
	var nfd int
	var sa syscall.Sockaddr
	var aerr error
	err := l.rc.Read(func(fd uintptr) bool {
		for {
			nfd, sa, aerr = syscall.Accept4(int(fd), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
			// As net does: a connection reset while queued is no error of
			// the listener.
			if aerr != syscall.EINTR && aerr != syscall.ECONNABORTED {
				return aerr != syscall.EAGAIN
			}
		}
	})
	if err != nil {
		return nil, err
	}
	if aerr != nil {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: os.NewSyscallError("accept4", aerr)}
	}
	// os.NewFile registers the (non-blocking) socket with the runtime's
	// poller, so reads, writes and deadlines work as on a net.Conn.
	f := os.NewFile(uintptr(nfd), "tcp")
	return &bareConn{File: f, laddr: l.Addr(), raddr: tcpAddr(sa)}, nil
}

// bareConn is an accepted TCP connection as a net.Conn.
type bareConn struct {
	*os.File
	laddr, raddr net.Addr
}

func (c *bareConn) LocalAddr() net.Addr  { return c.laddr }
func (c *bareConn) RemoteAddr() net.Addr { return c.raddr }

// CloseWrite shuts down the sending side (lingerClose, tunnels).
func (c *bareConn) CloseWrite() error {
	rc, err := c.File.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.Shutdown(int(fd), syscall.SHUT_WR) }); err != nil {
		return err
	}
	return os.NewSyscallError("shutdown", serr)
}

// Read and Write return net's errors for a closed connection, which the
// router does not tell apart anyway; os.File's *PathError wraps the same
// poller errors (os.ErrDeadlineExceeded, net.ErrClosed).
var _ net.Conn = (*bareConn)(nil)

// tcpAddr is the peer address accept4 returned.
func tcpAddr(sa syscall.Sockaddr) *net.TCPAddr {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]).To16(), Port: sa.Port}
	case *syscall.SockaddrInet6:
		a := &net.TCPAddr{IP: net.IP(sa.Addr[:]), Port: sa.Port}
		if sa.ZoneId != 0 {
			a.Zone = strconv.Itoa(int(sa.ZoneId))
		}
		return a
	}
	return &net.TCPAddr{}
}

// keepAliveProbes turns on TCP keep-alive probes with Go's default
// timing (idle 15 s, then 9 probes 15 s apart) on a connection bareListener
// accepted; net's connections have them already.
func keepAliveProbes(c net.Conn) {
	bc, ok := c.(*bareConn)
	if !ok {
		return
	}
	rc, err := bc.File.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		for _, o := range [...]struct{ level, opt, v int }{
			{syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1},
			{syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, 15},
			{syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, 15},
			{syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, 9},
		} {
			syscall.SetsockoptInt(int(fd), o.level, o.opt, o.v)
		}
	})
}
