package main

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawCalls (-raw): the per-request socket calls go through RawSyscall6,
// which skips the runtime's entersyscall/exitsyscall. They never block
// (every socket is non-blocking), so the scheduler loses nothing by not
// knowing about them; epoll_wait, which blocks, always uses the ordinary
// call so that the loop's P can be handed off while it sleeps.
var rawCalls bool

func call(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, unix.Errno) {
	if rawCalls {
		r, _, e := unix.RawSyscall6(trap, a1, a2, a3, a4, a5, a6)
		return r, e
	}
	r, _, e := unix.Syscall6(trap, a1, a2, a3, a4, a5, a6)
	return r, e
}

// recv is recv(2), as the router and nginx read sockets (read(2) costs
// more in the kernel: see DESIGN). p must not be empty.
func recv(fd int, p []byte) (int, unix.Errno) {
	for {
		n, e := call(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), 0, 0, 0)
		if e != unix.EINTR {
			return int(n), e
		}
	}
}

// send is send(2) without SIGPIPE. p must not be empty.
func send(fd int, p []byte) (int, unix.Errno) {
	for {
		n, e := call(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), unix.MSG_NOSIGNAL, 0, 0)
		if e != unix.EINTR {
			return int(n), e
		}
	}
}

// accept4 accepts one connection, non-blocking, with its peer address.
func accept4(fd int, sa *unix.RawSockaddrAny) (int, unix.Errno) {
	for {
		l := uint32(unix.SizeofSockaddrAny)
		n, e := call(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(sa)), uintptr(unsafe.Pointer(&l)),
			unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		if e != unix.EINTR {
			return int(n), e
		}
	}
}
