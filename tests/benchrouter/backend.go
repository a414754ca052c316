package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// backendMain is `benchrouter backend -body N [-tcp ADDR] -unix PATH[,PATH...]`:
// the handler of router/testdata/bench/backend (a fixed body of N bytes,
// Content-Type and Content-Length set) served by one process on unix
// sockets (as an activation app's, for nginx and the router) and, for the
// "direct" measurement, on a TCP address, since wrk speaks only TCP. One
// process serves both, so the direct and the proxied figures come from the
// same backend with the same handler, GOMAXPROCS and warm state.
func backendMain(args []string) int {
	fs := flag.NewFlagSet("benchrouter backend", flag.ContinueOnError)
	size := fs.Int("body", 13, "response body bytes")
	tcp := fs.String("tcp", "", "also listen on this TCP address (127.0.0.1:PORT)")
	socks := fs.String("unix", "", "comma-separated unix socket paths")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	body := make([]byte, *size)
	for i := range body {
		body[i] = 'a'
	}
	cl := strconv.Itoa(*size)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", cl)
		w.Write(body)
	})
	var ls []net.Listener
	for _, p := range strings.Split(*socks, ",") {
		if p == "" {
			continue
		}
		os.Remove(p)
		l, err := net.Listen("unix", p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "backend: %v\n", err)
			return 1
		}
		// nginx's workers run unprivileged; the sockets live in a private
		// work directory.
		os.Chmod(p, 0o666)
		ls = append(ls, l)
	}
	if *tcp != "" {
		l, err := net.Listen("tcp", *tcp)
		if err != nil {
			fmt.Fprintf(os.Stderr, "backend: %v\n", err)
			return 1
		}
		ls = append(ls, l)
	}
	if len(ls) == 0 {
		fmt.Fprintln(os.Stderr, "backend: nothing to listen on (-unix, -tcp)")
		return 2
	}
	errc := make(chan error, len(ls))
	for _, l := range ls {
		go func() { errc <- http.Serve(l, h) }()
	}
	fmt.Fprintf(os.Stderr, "backend: %v\n", <-errc)
	return 1
}
