// HTTP/2 over TLS (issue 12 point 2; docs/OPERATIONS.md "HTTPS").

package router

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ehecoatl/ehecoatl/router/wire"
)

// A TLS connection that negotiated h2 by ALPN is served by the standard
// library's HTTP/2 server: one http.Server per Server, HTTP/2 only
// (Protocols), fed the *tls.Conn by startTLS through h2Listener. HTTP/2
// is framing, flow control and HPACK, which a hand-written front end
// gains nothing by redoing; what matters is what happens to each stream,
// and that is the HTTP/1.1 front end's: serveH2 turns the stream's head
// into the HTTP/1.1 head the app will get and parses it with
// wire.ParseRequest, so routing (host normalisation, longest path, dot
// segments), the X-Forwarded-* rules (Config.TrustedProxies included) and
// the hop-by-hop fields are the same code as for HTTP/1.1; then the same
// table lookup, HSTS rule, per-client and per-tenant caps, body limits,
// idle tracking and access log, and the same upstream pools (upstream.go):
// apps keep getting HTTP/1.1 on their unix sockets, with the start timeout
// of a new connection and the one retry of a replayable request on a pooled
// connection the app had closed.
//
// What differs from HTTP/1.1:
//   - The client connection is not watched while the app is slow; the
//     stream is: once a read from the app has waited watchAfter, the end
//     of the stream's context (the client reset it or went away) closes
//     the app connection (watch, slow).
//   - A request body of known length up to bodyPrefix is read whole before
//     the request takes a tenant slot (as HTTP/1.1 does); a larger or
//     unframed one streams at once and counts as streaming
//     (tenantState.tryStream) from the start: HTTP/2 gives no way to see
//     that a client paused without waiting for it. The body pace
//     (BodyTimeout, BodyMinRate) is kept with per-stream read deadlines.
//   - Server.Shutdown sends GOAWAY (http.Server.Shutdown): streams in
//     flight finish, new ones go to a new connection. Responses sent
//     during the shutdown carry the "Connection: close" that makes net/http
//     send GOAWAY on their connection too.
//   - WebSocket over HTTP/2 (RFC 8441 extended CONNECT) is not offered;
//     net/http leaves SETTINGS_ENABLE_CONNECT_PROTOCOL off, so clients
//     open an HTTP/1.1 connection (ALPN http/1.1) for upgrades. A CONNECT
//     gets 405, as over HTTP/1.1.
//
// The golang.org/x/net/http2 server would do as well (x/net is a
// dependency), but its ServeConn is deprecated in favour of net/http's,
// and net/http's is the one the rest of the Go world runs.
//
// Measured on the development machine (2 shared cores, BenchmarkForwardH2,
// Go clients, hello-world app): HTTP/2 on one connection reaches about
// 0.7x (0.55-0.9 between runs) the throughput of HTTP/1.1 over TLS on
// kept-alive connections; the router's own CPU per request is about 2.5x
// HTTP/1.1's (~40 against ~16 us), nearly all of it net/http's framing
// and its goroutine per stream.

// h2Server is the HTTP/2 side of one Server. Its zero value is ready; the
// http.Server starts with the first h2 connection.
type h2Server struct {
	mu     sync.Mutex
	hs     *http.Server
	ln     *h2Listener
	closed bool
	// conns maps each *tls.Conn handed over to its h2Conn, until net/http
	// reports it closed (connState).
	conns sync.Map
}

// h2Conn is one connection served over HTTP/2.
type h2Conn struct {
	cc *clientConn
	// done is closed when net/http is done with the connection.
	done chan struct{}
}

// h2ConnKey is the context key of a stream's *clientConn.
type h2ConnKey struct{}

// serveH2 serves the connection, after its handshake negotiated h2,
// until it ends. The clientConn stays in its Server's set (and its
// goroutine in the wait group) meanwhile, so Shutdown waits for it and
// Close closes it.
func (cc *clientConn) serveH2(tc *tls.Conn) {
	cc.state.Store(stateActive) // Shutdown must leave it to GOAWAY
	cc.br = nil                 // net/http reads the connection
	h := &cc.srv.h2
	ln := h.start(cc.srv)
	if ln == nil {
		return // shut down
	}
	tc.SetDeadline(time.Time{}) // the HTTP/2 server keeps its own timeouts
	hc := &h2Conn{cc: cc, done: make(chan struct{})}
	h.conns.Store(tc, hc)
	select {
	case ln.ch <- tc:
	case <-ln.done:
		h.conns.Delete(tc)
		return
	}
	<-hc.done
}

// start returns the listener the HTTP/2 server accepts from, starting
// the server first; nil after shutdown.
func (h *h2Server) start(s *Server) *h2Listener {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	if h.hs != nil {
		return h.ln
	}
	cfg := &s.rt.cfg
	var p http.Protocols
	p.SetHTTP2(true)
	h.ln = &h2Listener{ch: make(chan net.Conn), done: make(chan struct{})}
	h.hs = &http.Server{
		Handler:   http.HandlerFunc(serveH2),
		Protocols: &p,
		// IdleTimeout closes a connection without streams; there is no
		// read-header timeout to keep (HTTP/2 reads frames, not heads).
		IdleTimeout:    cfg.IdleTimeout,
		MaxHeaderBytes: cfg.MaxHeaderBytes,
		HTTP2: &http.HTTP2Config{
			// A connection nothing can be written to for this long is
			// closed (per stream, sendTimeout is armed by armWrite).
			WriteByteTimeout: sendTimeout,
		},
		// OPTIONS * goes to the app, as over HTTP/1.1.
		DisableGeneralOptionsHandler: true,
		// Protocol errors of clients; panics are logged by serveH2.
		ErrorLog:    slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
		ConnContext: h.connContext,
		ConnState:   h.connState,
	}
	go h.hs.Serve(h.ln)
	return h.ln
}

func (h *h2Server) connContext(ctx context.Context, c net.Conn) context.Context {
	if v, ok := h.conns.Load(c); ok {
		return context.WithValue(ctx, h2ConnKey{}, v.(*h2Conn).cc)
	}
	return ctx
}

func (h *h2Server) connState(c net.Conn, st http.ConnState) {
	if st == http.StateClosed || st == http.StateHijacked {
		if v, ok := h.conns.LoadAndDelete(c); ok {
			close(v.(*h2Conn).done)
		}
	}
}

// shutdown sends GOAWAY on every HTTP/2 connection; they close once their
// streams are done (Server.Shutdown waits for that) or when ctx ends.
func (h *h2Server) shutdown(ctx context.Context) {
	h.mu.Lock()
	h.closed = true
	hs := h.hs
	h.mu.Unlock()
	if hs != nil {
		go hs.Shutdown(ctx)
	}
}

// close closes every HTTP/2 connection at once.
func (h *h2Server) close() {
	h.mu.Lock()
	h.closed = true
	hs := h.hs
	h.mu.Unlock()
	if hs != nil {
		hs.Close()
	}
}

// h2Listener hands the connections startTLS negotiated h2 on to the
// HTTP/2 server.
type h2Listener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func (l *h2Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *h2Listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *h2Listener) Addr() net.Addr { return h2Addr{} }

type h2Addr struct{}

func (h2Addr) Network() string { return "h2" }
func (h2Addr) String() string  { return "h2" }

// h2req is one HTTP/2 request as the HTTP/1.1 front end sees a request:
// the head for the app, parsed by package wire, and what was read of the
// body before the request took a slot.
type h2req struct {
	wire.Request
	headBuf  []byte
	body     []byte
	bodyBuf  *[]byte
	bodyDone bool
}

var h2reqPool = sync.Pool{New: func() any { return new(h2req) }}

// parse writes r's head as an HTTP/1.1 request head and parses it.
// HTTP/2 field values can hold no CR, LF or NUL (RFC 9113 §8.2.1, checked
// by net/http), so the head has the lines r has; connection-specific
// fields are refused by net/http, and the rest is what wire.ParseRequest
// makes of them. The body framing is r's: Content-Length when the client
// sent one, chunked for a body of unknown length.
func (req *h2req) parse(r *http.Request) error {
	b := req.headBuf[:0]
	b = append(b, r.Method...)
	b = append(b, ' ')
	b = append(b, r.RequestURI...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, r.Host...)
	b = append(b, "\r\n"...)
	for k, vs := range r.Header {
		if k == "Host" || k == "Content-Length" {
			continue
		}
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	_, hasCL := r.Header["Content-Length"]
	switch {
	case r.ContentLength > 0 || r.ContentLength == 0 && hasCL:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, r.ContentLength, 10)
		b = append(b, "\r\n"...)
	case r.ContentLength < 0:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	b = append(b, "\r\n"...)
	*req = h2req{Request: req.Request, headBuf: b}
	return wire.ParseRequest(&req.Request, string(b))
}

// h2exchange is one stream being served.
type h2exchange struct {
	cc *clientConn
	w  http.ResponseWriter
	r  *http.Request
	rc *http.ResponseController
	// hsts: app responses get Strict-Transport-Security.
	hsts bool
	// abort: the response could not be completed; the stream is reset
	// (the client must not take a truncated body for a whole one).
	abort bool
	// wdl is the stream's write deadline (zero: none yet); written
	// counts the body bytes written.
	wdl     time.Time
	written int
	// stop ends the watch of the stream (nil: not watched).
	stop func() bool
	// reqID is the stream's id (requestid.go), idBuf its text for the app.
	reqID RequestID
	idBuf requestIDBuf
	// in counts the body bytes read from the stream (h2BodyReader), out
	// the response's head (as HTTP/1.1) and the router's own bodies.
	in, out int64
}

// serveH2 is the HTTP/2 server's handler: one stream, as handle and
// serveApp serve an HTTP/1.1 request.
func serveH2(w http.ResponseWriter, r *http.Request) {
	cc, _ := r.Context().Value(h2ConnKey{}).(*clientConn)
	if cc == nil {
		panic(http.ErrAbortHandler) // not a connection of startTLS: cannot happen
	}
	rt := cc.rt
	start := time.Now()
	defer func() {
		// A bug must cost one stream, not every tenant's traffic.
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				buf := make([]byte, 16<<10)
				buf = buf[:runtime.Stack(buf, false)]
				rt.cfg.Logger.Error("panic serving an HTTP/2 stream", "remote", cc.ip, "panic", fmt.Sprint(v), "stack", string(buf))
			}
			panic(http.ErrAbortHandler) // net/http resets the stream
		}
	}()
	ex := &h2exchange{cc: cc, w: w, r: r, rc: http.NewResponseController(w)}
	req := h2reqPool.Get().(*h2req)
	defer h2reqPool.Put(req)
	if err := req.parse(r); err != nil {
		re := err.(*wire.RequestError)
		ex.simple(re.Status, statusText(re.Status)+": "+re.Msg+"\n", "")
		e := AccessEntry{Time: start, Status: re.Status, Duration: time.Since(start), BytesIn: int64(len(req.headBuf)), BytesOut: ex.out,
			Client: cc.ip, UserAgent: r.UserAgent(), Proto: "HTTP/2.0", TLSVersion: cc.tlsVersion, RequestID: RequestID{Seq: idSeq.Add(1)}}
		rt.account(nil, nil, &e, protoHTTP2)
		rt.access.Log(e)
		return
	}
	ex.reqID = newRequestID(req.RequestID, cc.trusted)
	rte := rt.table.Load().lookup(normalizeHost(req.Host), req.Path)
	var a *appState
	var status int
	if rte == nil {
		status = ex.simple(404, "404 Not Found\n", "")
	} else if rte.held {
		a = rte.app
		status = ex.simple(503, heldPage, heldRetry)
	} else {
		a = rte.app
		ex.hsts = rte.hsts
		status = ex.serveApp(req, a, start)
	}
	e := AccessEntry{Time: start, Method: req.Method, Host: req.Host, Path: req.Path, Status: status, Duration: time.Since(start),
		BytesIn: int64(len(req.headBuf)) + ex.in, BytesOut: ex.out + int64(ex.written),
		Client: cc.ip, UserAgent: req.UserAgent, Proto: "HTTP/2.0", TLSVersion: cc.tlsVersion, RequestID: ex.reqID}
	if a != nil {
		e.Tenant, e.App = a.tenant.name, a.name
	}
	rt.account(rte, a, &e, protoHTTP2)
	rt.access.Log(e)
	if ex.abort {
		panic(http.ErrAbortHandler)
	}
}

// serveApp applies the limits of serveApp (server.go) and forwards.
func (ex *h2exchange) serveApp(req *h2req, a *appState, start time.Time) int {
	rt := ex.cc.rt
	t := a.tenant
	ok, counted := rt.clients.acquire(t, ex.cc.key)
	if !ok {
		a.refused(refusedClientCap)
		return ex.simple(429, "429 Too Many Requests\n", "1")
	}
	if counted {
		defer rt.clients.release(t, ex.cc.key)
	}
	if m := rt.cfg.MaxBodyBytes; m > 0 && req.ContentLength > m {
		return ex.simple(413, "413 Request Entity Too Large\n", "")
	}
	if req.ContentLength != 0 {
		status, ok := ex.bufferBody(req)
		defer ex.releaseBody(req)
		if !ok {
			return status
		}
	}
	if !t.tryAcquire() {
		a.refused(refusedTenantCap)
		return ex.simple(503, "503 Service Unavailable\n", "1")
	}
	defer t.release()
	if req.ContentLength != 0 && !req.bodyDone {
		if !t.tryStream() {
			a.refused(refusedTenantCap)
			return ex.simple(503, "503 Service Unavailable\n", "1")
		}
		defer t.endStream()
	}
	a.begin(start.UnixNano())
	defer func() { a.end(time.Now().UnixNano()) }()
	return ex.forward(req, a)
}

// bufferBody reads a body of known length up to bodyPrefix whole, under
// the body pace and the MaxBufferedBodyBytes budget (bufferBody in
// body.go); other bodies stream. ok is false when the request was
// answered or the client went away.
func (ex *h2exchange) bufferBody(req *h2req) (status int, ok bool) {
	rt := ex.cc.rt
	n := req.ContentLength
	if n <= 0 || n > bodyPrefix || rt.cfg.MaxBufferedBodyBytes < 0 {
		return 0, true
	}
	class := bodyBufClass(int(n))
	cost := int64(bodyBufPools[class].size)
	if rt.buffered.Add(cost) > rt.cfg.MaxBufferedBodyBytes {
		rt.buffered.Add(-cost)
		return 0, true
	}
	req.bodyBuf = getBodyBuf(class)
	buf := (*req.bodyBuf)[:n]
	if _, err := io.ReadFull(ex.newBodyReader(), buf); err != nil {
		return ex.clientBodyError(&clientBodyError{err}), false
	}
	req.body, req.bodyDone = buf, true
	return 0, true
}

func (ex *h2exchange) releaseBody(req *h2req) {
	if req.bodyBuf == nil {
		return
	}
	class := bodyBufClass(cap(*req.bodyBuf))
	ex.cc.rt.buffered.Add(-int64(bodyBufPools[class].size))
	bodyBufPools[class].pool.Put(req.bodyBuf)
	req.bodyBuf, req.body = nil, nil
}

// forward is forward (exchange.go) for a stream.
func (ex *h2exchange) forward(req *h2req, a *appState) int {
	rt := ex.cc.rt
	up := rt.ready(a, nil)
	if up == nil {
		body, retry := rt.allDown(a)
		return ex.simple(503, body, retry)
	}
	status, derr := ex.forwardTo(req, a, up, len(a.ups) > 1)
	if derr != nil {
		rt.failure(a, up, 0, derr)
		alt := rt.ready(a, up)
		if alt == nil {
			return ex.upstreamError(a, derr, false)
		}
		up = alt
		status, _ = ex.forwardTo(req, a, up, false)
	}
	rt.observe(a, up, status)
	return status
}

// forwardTo is forwardTo (exchange.go) for a stream.
func (ex *h2exchange) forwardTo(req *h2req, a *appState, up *upstream, handBack bool) (status int, derr error) {
	defer up.active.Add(-1)

	hasBody := req.ContentLength != 0
	replayable := !hasBody &&
		(req.Method == "GET" || req.Method == "HEAD" || req.Method == "OPTIONS" || req.Method == "TRACE")
	since := ex.cc.rt.coldSince(a, up)
	c, err := up.get()
	if err != nil {
		if handBack {
			return 0, err
		}
		return ex.upstreamError(a, err, false), nil
	}
	for attempt := 0; ; attempt++ {
		c.coldSince = since
		status, retry := ex.exchange(req, a, c, hasBody)
		if !retry {
			return status, nil
		}
		if !replayable || attempt > 0 {
			return ex.upstreamError(a, errBadResponse, false), nil
		}
		if c, err = up.dial(); err != nil {
			if handBack {
				return 0, err
			}
			return ex.upstreamError(a, err, false), nil
		}
	}
}

// exchange is exchange (exchange.go) for a stream: the request goes to
// the app as HTTP/1.1 on c, the response comes back as the stream's.
func (ex *h2exchange) exchange(req *h2req, a *appState, c *uconn, hasBody bool) (status int, retry bool) {
	rt := ex.cc.rt
	fresh := !c.reused
	// The client connection is not watched (c.cc stays nil); once the app
	// is slow, the stream's context is (watch).
	c.begin(nil, true)
	ex.stop = nil
	defer ex.unwatch()
	now := time.Now()
	if fresh && rt.cfg.StartTimeout > 0 {
		c.startDeadline = now.Add(rt.cfg.StartTimeout)
	}
	c.armRead(now)
	wire.WriteRequestHead(c.bw, &req.Request, wire.Peer{IP: ex.cc.ip, TLS: true, Trusted: ex.cc.trusted, RequestID: ex.reqID.AppendTo(ex.idBuf[:0])})

	var body *bodySender
	var werr error
	switch {
	case !hasBody:
		werr = c.bw.Flush()
	case req.bodyDone:
		c.bw.Write(req.body)
		werr = c.bw.Flush()
	default:
		body = startBody(c, ex.newBodyReader(), req.ContentLength < 0, rt.cfg.MaxBodyBytes)
	}
	if werr != nil && !hasBody {
		c.c.Close()
		if ex.gone() {
			return statusClientGone, false
		}
		if c.reused {
			return 0, true
		}
		return ex.upstreamError(a, werr, false), false
	}

	block, rh, err := ex.readHead(c, req.Method == "HEAD")
	if err != nil {
		c.c.Close()
		if body != nil {
			if berr := <-body.done; isClientBodyError(berr) {
				return ex.clientBodyError(berr), false
			}
		}
		if ex.gone() {
			return statusClientGone, false
		}
		if c.reused && rh.nothingRead && !hasBody {
			return 0, true
		}
		return ex.upstreamError(a, err, fresh && rh.nothingRead), false
	}
	if c.coldSince != 0 || c.up.warm.Load() != warmYes {
		rt.answered(a, c.up, c.coldSince)
		c.coldSince = 0
	}
	if rh.Status == 101 { // no upgrades over HTTP/2
		c.c.Close()
		if body != nil {
			ex.r.Body.Close()
			<-body.done
		}
		return ex.upstreamError(a, errBadResponse, false), false
	}

	ex.writeHead(block, &rh)
	c.br.Discard(len(block))
	complete, cerr := relayBody(c, &rh, ex)
	reusable := complete && !rh.Close
	if body != nil {
		reusable = body.finish(c, func() { ex.r.Body.Close() }) && reusable
	}
	if !ex.unwatch() || !reusable {
		c.c.Close()
	} else {
		c.up.put(c)
	}
	if cerr != nil {
		if !errors.Is(cerr, errClientGone) && !ex.gone() {
			rt.appLogf(a, "%s: response body: %v", c.up.path, cerr)
		}
		ex.abort = true
	}
	return rh.Status, false
}

func (ex *h2exchange) gone() bool { return ex.r.Context().Err() != nil }

// Waiting for the app costs nothing more than a read deadline, as over
// HTTP/1.1: reads from the app run under a deadline watchAfter away (or
// the start deadline of a new connection, if sooner), and only a read that
// reaches it (slow) starts watching the stream, whose end then closes the
// app connection, and lets the read wait on. A fast response never
// registers with the stream's context.

// watch makes the end of the stream close c.
func (ex *h2exchange) watch(c *uconn) {
	if ex.stop == nil {
		ex.stop = context.AfterFunc(ex.r.Context(), func() { c.c.Close() })
	}
}

// unwatch ends the watch; false when it closed the connection (or is
// closing it).
func (ex *h2exchange) unwatch() bool {
	if ex.stop == nil {
		return true
	}
	ok := ex.stop()
	ex.stop = nil
	return ok
}

// slow is called when a read from the app c reached its deadline: true
// when the read may wait on (the stream is watched from now on, and the
// deadline is the start deadline or none), false when the client is gone
// or a new connection's start timeout passed.
func (ex *h2exchange) slow(c *uconn, err error) bool {
	if !errors.Is(err, os.ErrDeadlineExceeded) || ex.gone() {
		return false
	}
	if !c.startDeadline.IsZero() && !time.Now().Before(c.startDeadline) {
		return false
	}
	ex.watch(c)
	c.setReadDeadline(c.startDeadline)
	return true
}

// readHead is readResponseHead (response.go) for a stream: it waits for a
// response head from the app and scans it, skipping interim 1xx
// responses (not 101).
func (ex *h2exchange) readHead(c *uconn, head bool) (block []byte, rh respHead, err error) {
	br := c.br
	for {
		b, _ := br.Peek(br.Buffered())
		if end := wire.HeadEnd(b); end > 0 {
			block = b[:end]
			rh.Listed = c.connTokens
			err = wire.ScanResponse(&rh.Response, block, head)
			c.connTokens = rh.Listed[:0]
			if err != nil {
				return nil, rh, err
			}
			if rh.Status >= 200 || rh.Status == 101 {
				return block, rh, nil
			}
			br.Discard(len(block)) // 100 Continue, 103 Early Hints: skip
			continue
		}
		if len(b) >= br.Size() {
			return nil, rh, errHeaderTooBig
		}
		if _, err = br.Peek(len(b) + 1); err != nil {
			if ex.slow(c, err) {
				continue
			}
			if len(b) == 0 {
				rh.nothingRead = true
			} else if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, rh, err
		}
		if len(b) == 0 && !c.startDeadline.IsZero() {
			// The app is up: the start deadline no longer applies.
			c.startDeadline = time.Time{}
			if ex.stop != nil {
				c.setReadDeadline(time.Time{})
			}
		}
	}
}

// Shared field values of the router's own answers.
var (
	h2TextPlain = []string{"text/plain; charset=utf-8"}
	h2NoSniff   = []string{"nosniff"}
	h2Close     = []string{"close"}
	h2HSTS      = []string{strings.TrimSpace(strings.TrimPrefix(hstsField, "Strict-Transport-Security:"))}
)

// simple is writeSimple for a stream; it returns code.
func (ex *h2exchange) simple(code int, body, retryAfter string) int {
	h := ex.w.Header()
	h["Content-Type"] = h2TextPlain
	h["X-Content-Type-Options"] = h2NoSniff
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	if retryAfter != "" {
		h["Retry-After"] = []string{retryAfter}
	}
	if ex.cc.srv.shutdown.Load() {
		h["Connection"] = h2Close // net/http: GOAWAY after this response
	}
	ex.w.WriteHeader(code)
	io.WriteString(ex.w, body)
	ex.out += int64(simpleHeadLen(code, len(body), retryAfter) + len(body))
	return code
}

// simpleHeadLen is the length of the head writeSimple writes for an
// answer of the router's own (its HTTP/1.1 form, for the bytes out of a
// stream).
func simpleHeadLen(code, bodyLen int, retryAfter string) int {
	n := len("HTTP/1.1 200 ") + len(statusText(code)) +
		len("\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nContent-Length: ") +
		len(strconv.Itoa(bodyLen)) + len("\r\n\r\n")
	if retryAfter != "" {
		n += len("\r\nRetry-After: ") + len(retryAfter)
	}
	return n
}

// writeHead sets the stream's response head from the app's (block, as
// ScanResponse accepted it as rh): the status and the end-to-end fields,
// as wire.WriteResponseHead passes them to an HTTP/1.1 client. net/http
// adds no Content-Type or Date of its own.
func (ex *h2exchange) writeHead(block []byte, rh *respHead) {
	h := ex.w.Header()
	var ct, date bool
	// A stream never passes a 101 on (exchange refuses it first), so the
	// fields are those WriteResponseHead gives an HTTP/1.1 client.
	wire.EndToEnd(block, &rh.Response, func(name, value []byte) {
		key := textproto.CanonicalMIMEHeaderKey(string(name))
		switch key {
		case "Content-Type":
			ct = true
		case "Date":
			date = true
		}
		h[key] = append(h[key], string(value))
	})
	if !ct {
		h["Content-Type"] = nil
	}
	if !date {
		h["Date"] = nil
	}
	if ex.hsts {
		h["Strict-Transport-Security"] = h2HSTS
	}
	if ex.cc.srv.shutdown.Load() {
		h["Connection"] = h2Close
	}
	ex.w.WriteHeader(rh.Status)
	ex.out += int64(len(block))
}

// h2BufferSize is what net/http's HTTP/2 response writer buffers before
// a Write waits for the stream (its handler chunk size).
const h2BufferSize = 4 << 10

// armWrite is armWrite (server.go) for a stream: before a write that may
// wait for the client, the client gets at least half of sendTimeout to
// take it. Small responses, which net/http sends after the handler
// returns, set no deadline.
func (ex *h2exchange) armWrite() {
	now := time.Now()
	if ex.wdl.Sub(now) < sendTimeout/2 {
		ex.wdl = now.Add(sendTimeout)
		ex.rc.SetWriteDeadline(ex.wdl)
	}
}

func (ex *h2exchange) write(p []byte) error {
	ex.written += len(p)
	if ex.written > h2BufferSize {
		ex.armWrite()
	}
	_, err := ex.w.Write(p)
	return err
}

func (ex *h2exchange) flush() error {
	ex.armWrite()
	return ex.rc.Flush()
}

// A stream as a bodySink (copy.go): what the app has sent is written at
// once, and before every read that would wait for the app the stream is
// flushed, so streams flow while a small response leaves with the end of
// the stream. Reads from the app wait under a deadline (see slow).

// chunked: the chunked reader may block anywhere, and a deadline there is
// its end: watch the stream from the start.
func (ex *h2exchange) chunked(c *uconn) {
	ex.watch(c)
	c.setReadDeadline(time.Time{})
}

func (ex *h2exchange) blocking(*uconn) {}

func (ex *h2exchange) left(*uconn) bool { return ex.gone() }

// upstreamError is upstreamError (answer.go) for a stream.
func (ex *h2exchange) upstreamError(a *appState, err error, startTimeout bool) int {
	rt := ex.cc.rt
	a.m.upstream[upstreamKind(err)].Add(1)
	var de *errDial
	switch {
	case startTimeout && errors.Is(err, os.ErrDeadlineExceeded):
		rt.appLogf(a, "no response within the start timeout %s", rt.cfg.StartTimeout)
		return ex.simple(503, "503 Service Unavailable: the app is starting\n", "5")
	case errors.As(err, &de) && errors.Is(err, syscall.EAGAIN):
		return ex.simple(503, "503 Service Unavailable\n", "1")
	case notThere(err, startTimeout) && rt.gaveUp(a):
		rt.appLogf(a, "systemd gave up on the app (a unit failed): 503 until it is fixed or restarted (%v)", err)
		return ex.simple(503, failedBody, failedRetryAfter)
	}
	rt.appLogf(a, "%v", err)
	return ex.simple(502, "502 Bad Gateway\n", "")
}

// clientBodyError is clientBodyError (answer.go) for a stream: 413, 408
// for a body too slow, nothing when the client is gone, 400 otherwise.
func (ex *h2exchange) clientBodyError(err error) int {
	switch {
	case err == errBodyTooLarge:
		return ex.simple(413, "413 Request Entity Too Large\n", "")
	case ex.gone():
		return statusClientGone
	case errors.Is(err, os.ErrDeadlineExceeded):
		return ex.simple(408, "408 Request Timeout: the request body came too slowly\n", "")
	}
	return ex.simple(400, "400 Bad Request: malformed body\n", "")
}

// h2BodyReader reads a stream's request body at the pace bodyReader
// (body.go) asks of HTTP/1.1 bodies, with the stream's read deadline.
type h2BodyReader struct {
	body      io.Reader
	rc        *http.ResponseController
	due, rdl  time.Time
	timeout   time.Duration
	nsPerByte int64
	// count adds up the bytes read (h2exchange.in).
	count *int64
}

func (ex *h2exchange) newBodyReader() *h2BodyReader {
	cfg := &ex.cc.rt.cfg
	b := &h2BodyReader{body: ex.r.Body, rc: ex.rc, timeout: cfg.BodyTimeout, due: time.Now().Add(cfg.BodyTimeout), count: &ex.in}
	if cfg.BodyMinRate > 0 {
		b.nsPerByte = max(int64(time.Second)/cfg.BodyMinRate, 1)
	}
	return b
}

func (b *h2BodyReader) Read(p []byte) (int, error) {
	if limit := time.Now().Add(b.timeout); b.nsPerByte == 0 || b.due.After(limit) {
		b.due = limit
	}
	if !b.due.Equal(b.rdl) {
		b.rdl = b.due
		b.rc.SetReadDeadline(b.rdl)
	}
	n, err := b.body.Read(p)
	*b.count += int64(n)
	if b.nsPerByte > 0 {
		b.due = b.due.Add(time.Duration(int64(n) * b.nsPerByte))
	}
	return n, err
}
