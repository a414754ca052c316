// Reads and writes of the router's sockets with recv(2) and send(2).

package router

import (
	"os"
	"syscall"
	"unsafe"
)

// Why: read(2) and write(2) on a socket go through the VFS first
// (rw_verify_area, the LSM's file_permission hook, fsnotify), which perf
// showed as half of the router's kernel time per proxied request;
// recv(2) and send(2) go to the socket layer directly, as nginx's reads
// and writes do (docs/DESIGN.md "Router: what a proxied request costs").

// recv is recv(2) on a connected socket: recvfrom with no address.
func recv(fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, e := syscall.Syscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(ptr), uintptr(len(p)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// send is send(2) on a connected socket: sendto with no address.
// MSG_NOSIGNAL: a peer that went away is an EPIPE, not a SIGPIPE the
// runtime has to field.
func send(fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, e := syscall.Syscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(ptr), uintptr(len(p)), syscall.MSG_NOSIGNAL, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// sendAll writes all of p to a socket through its RawConn with send(2),
// waiting for room in the poller as os.File and net.Conn writes do, under
// the same write deadline. Inside RawConn.Write the descriptor's write
// lock is held, as in their Write.
func sendAll(rc syscall.RawConn, p []byte) (int, error) {
	total := 0
	var serr error
	err := rc.Write(func(fd uintptr) bool {
		for len(p) > 0 {
			n, e := send(int(fd), p)
			switch {
			case e == syscall.EINTR:
				continue
			case e == syscall.EAGAIN:
				return false // wait until writable
			case e != nil:
				serr = os.NewSyscallError("write", e)
				return true
			}
			total += n
			p = p[n:]
		}
		return true
	})
	if err != nil {
		return total, err
	}
	return total, serr
}

// sendWriter is a socket's write side for a bufio.Writer.
type sendWriter struct{ rc syscall.RawConn }

func (w sendWriter) Write(p []byte) (int, error) { return sendAll(w.rc, p) }
