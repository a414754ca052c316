// Package router is Ehecoatl's HTTP front door (SPEC §5): it maps the Host
// header (and the longest path prefix) of every request to a tenant app's
// unix socket under /run/ehecoatl and forwards the request over kept-alive
// connections.
//
// The data plane is deliberately lean. net/http serves the client side
// (request parsing, header/idle timeouts, 431 on oversized headers, 400 on
// malformed requests, hijacking for WebSocket upgrades) while the upstream
// side is a small hand-written HTTP/1.1 client (upstream.go, proxy.go):
// one LIFO pool of idle connections per socket, the request written in one
// buffered write, response headers parsed from the read buffer with one
// string allocation, bodies copied with pooled buffers and flushed to the
// client whenever the upstream has nothing more buffered (so SSE and other
// streams flow as data arrives). Go's httputil.ReverseProxy with
// http.Transport reached about 0.42x of nginx's throughput here; see
// docs in the package tests (BenchmarkForward) for the figures of this one.
//
// Files: table.go (routing table and lookup), upstream.go (connection
// pools), proxy.go (forwarding), router.go (the handler, limits, reload),
// idle.go (idle tracking and the IdleStopper hook), accesslog.go (journal
// access log), listen.go (socket activation).
//
// Permissions: the router runs as the static user ehecoatl-router, which
// may connect to the app sockets (SocketGroup=ehecoatl-router). Stopping an
// idle activation app calls an IdleStopper, in production a D-Bus
// StopUnit of ehecoatl-<tenant>-<app>.service; an unprivileged router needs
// a polkit rule that allows org.freedesktop.systemd1.manage-units for
// ehecoatl-*.service units to the ehecoatl-router user (the lead decides
// whether to ship one or to leave idle stop to the units themselves).
package router
