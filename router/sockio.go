package router

import (
	"syscall"
	"unsafe"
)

// recv is recv(2) on a connected socket: recvfrom with no address, as
// nginx reads. read(2) on a socket goes through the VFS first
// (rw_verify_area, the LSM's file_permission hook, fsnotify), which
// perf showed as half of the router's kernel time per proxied request
// (docs/DESIGN.md "Router: what a proxied request costs").
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
