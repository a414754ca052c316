// The system calls of the epoll loops (loop.go).

package router

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Why raw calls: every descriptor a loop reads or writes is non-blocking,
// so none of these calls can block, and the runtime's entersyscall and
// exitsyscall around each (a P hand-off check, two atomic state changes)
// buy nothing; measured in tests/benchrouter/epollproxy they were a
// tenth of the loop's CPU per request (docs/DESIGN.md "Router: what a
// proxied request costs"). epoll_wait, which blocks, is an ordinary call,
// so that the loop's P is handed off while it sleeps.

// nbRecv is recv(2) on a non-blocking socket. p must not be empty.
func nbRecv(fd int, p []byte) (int, unix.Errno) {
	for {
		n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), 0, 0, 0)
		if e != unix.EINTR {
			return int(n), e
		}
	}
}

// nbRead is a loop's read of a socket for a bufio.Reader: errWouldBlock
// when it is empty, io.EOF at its end; drained says the socket is empty
// now (a short read, as nginx decides), so that the loop waits for its
// next edge without a read that finds nothing.
func nbRead(fd int, p []byte, drained *bool) (int, error) {
	n, e := nbRecv(fd, p)
	switch {
	case e == unix.EAGAIN:
		*drained = true
		return 0, errWouldBlock
	case e != 0:
		*drained = true
		return 0, os.NewSyscallError("read", e)
	case n == 0:
		*drained = true
		return 0, io.EOF
	}
	*drained = n < len(p)
	return n, nil
}

// nbSend is send(2) without SIGPIPE on a non-blocking socket. p must not
// be empty.
func nbSend(fd int, p []byte) (int, unix.Errno) {
	for {
		n, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), unix.MSG_NOSIGNAL, 0, 0)
		if e != unix.EINTR {
			return int(n), e
		}
	}
}

// nbAccept accepts one connection, non-blocking, with its peer address.
func nbAccept(fd int, sa *unix.RawSockaddrAny) (int, unix.Errno) {
	for {
		l := uint32(unix.SizeofSockaddrAny)
		n, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(sa)), uintptr(unsafe.Pointer(&l)),
			unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		if e != unix.EINTR && e != unix.ECONNABORTED {
			return int(n), e
		}
	}
}

// peerAddr is an accepted connection's peer as bareListener's Accept
// returns it (tcpAddr), so that both paths see the same client address.
func peerAddr(sa *unix.RawSockaddrAny) *net.TCPAddr {
	switch sa.Addr.Family {
	case unix.AF_INET:
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return tcpAddr(&syscall.SockaddrInet4{Port: ntohs(p.Port), Addr: p.Addr})
	case unix.AF_INET6:
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		return tcpAddr(&syscall.SockaddrInet6{Port: ntohs(p.Port), ZoneId: p.Scope_id, Addr: p.Addr})
	}
	return &net.TCPAddr{}
}

func ntohs(port uint16) int {
	b := (*[2]byte)(unsafe.Pointer(&port))
	return int(b[0])<<8 | int(b[1])
}
