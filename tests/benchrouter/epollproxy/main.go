// Command epollproxy is the throughput benchmark's ceiling reference for
// the epoll data-plane decision (docs/DESIGN.md, "Router: what a proxied
// request costs"): a minimal Go reverse proxy with one epoll event loop
// per CPU outside Go's poller, doing the per-request work the router does
// for a plain keep-alive GET answered with a Content-Length, and nothing
// more. `go run ./tests/benchrouter -sections throughput -epollref` runs
// it beside the router and nginx. It is not a product: it has no
// timeouts, no limits, no request bodies, no upgrades, no TLS, no
// metrics and no access log, and it answers chunked or close-delimited
// responses with a 502 (the benchmark's backend sends a Content-Length).
//
// What it does per request, as the router does: read the client's
// socket until a short read (recv(2)) into a 4 KiB buffer; parse the head
// with the router's parser (router/wire); route by Host (a map lookup);
// write the request head as the router writes it (X-Forwarded-*, its own
// X-Request-Id) to a kept-alive unix-socket connection of the loop's
// pool with one send(2); read the answer until a short read; check its
// head (wire.ScanResponse) and write the client's head
// (wire.WriteResponseHead) and body with one send(2).
//
// Usage:
//
//	epollproxy -listen 127.0.0.1:PORT -route HOST=SOCKET [-route ...] [-loops N] [-raw]
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
)

// routeFlag collects -route host=path.
type routeFlag map[string]string

func (r routeFlag) String() string { return fmt.Sprint(map[string]string(r)) }

func (r routeFlag) Set(v string) error {
	host, path, ok := strings.Cut(v, "=")
	if !ok || host == "" || path == "" {
		return fmt.Errorf("want HOST=SOCKET, not %q", v)
	}
	r[normalizeHost(host)] = path
	return nil
}

func main() {
	routes := routeFlag{}
	listen := flag.String("listen", "127.0.0.1:8080", "TCP `ADDR`ESS to listen on (IPv4)")
	loops := flag.Int("loops", runtime.GOMAXPROCS(0), "event loops, each on a thread of its own")
	flag.BoolVar(&rawCalls, "raw", false, "make the non-blocking socket calls (recv, send, accept4) with syscall.RawSyscall, without telling the scheduler")
	flag.Var(routes, "route", "`HOST=SOCKET`: proxy requests for HOST to the unix socket SOCKET (repeatable)")
	flag.Parse()
	if len(routes) == 0 || *loops < 1 {
		fmt.Fprintln(os.Stderr, "epollproxy: need -route HOST=SOCKET and -loops >= 1")
		os.Exit(2)
	}
	p, err := newProxy(*listen, routes, *loops)
	if err != nil {
		fmt.Fprintf(os.Stderr, "epollproxy: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "epollproxy: %d loops on %s (raw calls %v)\n", *loops, p.addr, rawCalls)
	p.serve()
}
