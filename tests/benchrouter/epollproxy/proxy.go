package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// proxy is the listening socket, the routes and the loops.
type proxy struct {
	addr   string
	lfd    int
	routes map[string]int // normalized host -> index into paths
	paths  []string
	loops  []*loop
}

// newProxy opens the one listening socket all loops accept from, as the
// router gets one socket from systemd, and makes the loops.
func newProxy(listen string, routes map[string]string, loops int) (*proxy, error) {
	ap, err := netip.ParseAddrPort(listen)
	if err != nil || !ap.Addr().Is4() {
		return nil, fmt.Errorf("listen address %q: want IPv4:PORT", listen)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	// Linux copies TCP_NODELAY to every accepted socket, as the router
	// relies on (router/accept.go).
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		return nil, fmt.Errorf("TCP_NODELAY: %w", err)
	}
	sa := &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	if err := unix.Bind(fd, sa); err != nil {
		return nil, fmt.Errorf("bind %s: %w", listen, err)
	}
	if err := unix.Listen(fd, 4096); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	p := &proxy{lfd: fd, routes: map[string]int{}}
	if got, err := unix.Getsockname(fd); err == nil {
		if s, ok := got.(*unix.SockaddrInet4); ok {
			p.addr = netip.AddrPortFrom(netip.AddrFrom4(s.Addr), uint16(s.Port)).String()
		}
	}
	for host, path := range routes {
		p.routes[host] = len(p.paths)
		p.paths = append(p.paths, path)
	}
	for i := 0; i < loops; i++ {
		l, err := newLoop(p)
		if err != nil {
			return nil, err
		}
		p.loops = append(p.loops, l)
	}
	return p, nil
}

// serve runs the loops, the first on the calling goroutine; it does not
// return.
func (p *proxy) serve() {
	for _, l := range p.loops[1:] {
		go l.run()
	}
	p.loops[0].run()
}

// start runs every loop on a goroutine of its own (the tests).
func (p *proxy) start() {
	for _, l := range p.loops {
		go l.run()
	}
}

// idPrefix and idSeq make the X-Request-Id the app gets, as the router's
// (router/requestid.go): a prefix fixed per process and one shared
// atomic counter, so the proxy pays the same shared-counter cost.
var (
	idPrefix = func() string {
		var b [8]byte
		rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}()
	idSeq atomic.Uint64
)
