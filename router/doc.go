// Package router is Ehecoatl's HTTP front door (docs/DESIGN.md, docs/OPERATIONS.md "The router"): it maps the Host
// header (and the longest path prefix) of every request to a tenant app's
// unix socket under /run/ehecoatl and forwards the request over kept-alive
// connections.
//
// The HTTP/1.1 data plane is deliberately lean and does not use net/http
// at all (HTTP/2 over TLS does: h2.go hands such connections to
// net/http's HTTP/2 server and forwards its streams over the same
// upstream pools, measured at ~0.7x the HTTP/1.1 throughput):
//
//   - server.go / request.go: a hand-written HTTP/1.1 front end. One
//     goroutine per client connection reads a request head into a reused
//     buffer, copies it into one string (the only allocation of a typical
//     request) and parses it strictly with package wire (router/wire, the
//     codec: request and response heads, chunked framing, checked against
//     net/http by a differential fuzz test): ambiguous framing
//     (Content-Length with Transfer-Encoding, differing Content-Lengths,
//     codings other than chunked, obs-fold, control characters, bad Host)
//     is refused, so the router and an app can never disagree about where
//     a request ends. Keep-alive, pipelining, HTTP/1.0, Expect:
//     100-continue, upgrades, read-header/idle/send timeouts,
//     431/413/400/501/505 are handled there.
//   - upstream.go, uconn.go: one LIFO pool of kept-alive connections per
//     app socket, each with its own read/write buffers; a non-blocking
//     peek checks a connection idle for over a second; a request that
//     meets a connection the app closed is retried once when it is
//     replayable.
//   - exchange.go, response.go, send.go, copy.go, tunnel.go, answer.go,
//     log.go: the request head is written to the app in one buffered
//     write; the response head is parsed in place in the read buffer and
//     the client's head written from it (hop-by-hop fields dropped); bodies
//     are copied with pooled buffers and flushed to the client whenever the
//     app has nothing more buffered, so SSE and other streams flow while a
//     small response leaves in one write. Waiting for the app costs no
//     goroutine and no timer: a response slower than 100 ms arms a watch
//     of the client connection (uconn.go) that aborts the upstream I/O if
//     the client leaves.
//
// Measured on the development machine (2 shared cores, wrk -c64 against a
// Go hello-world app on a unix socket): net/http's server plus a custom
// upstream client needed ~32 µs CPU per request, nginx ~22 µs, this front
// end ~20 µs. Go's httputil.ReverseProxy reached about 0.42x of nginx's
// throughput.
//
// Other files: https.go (TLS by the first byte, redirects, HSTS, ACME
// HTTP-01), h2.go (HTTP/2), forwarded.go (trusted proxies), certstate.go
// (the certificates' record for the CLI), table.go (routing table and lookup), router.go (Config,
// reload, Serve), state.go (per-tenant caps, per-app state across
// reloads), idle.go (idle tracking and the IdleStopper hook), accesslog.go
// (journal access log), listen.go (socket activation).
//
// Permissions: the router runs as the static user ehecoatl-router, which
// may connect to the app sockets (its group may enter /run/ehecoatl). Stopping an
// idle activation app calls an IdleStopper, in production a D-Bus
// StopUnit of ehecoatl-<tenant>-<app>.service, which the polkit rule
// packaging/polkit/50-ehecoatl-router.rules allows the ehecoatl-router user
// (stop only, app services only). Socket paths and unit names come from
// the generator, the one place that names them.
package router
