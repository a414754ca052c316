package router

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ehecoatl/ehecoatl/router/wire"
)

// Server is the router's HTTP/1.1 front end. It is hand-written rather
// than net/http's server because, measured on the target machines, the
// latter costs about as much CPU per proxied request as everything else
// together (a background-read goroutine per request, a Request and header
// map per request, a context tree): with it the router needed ~1.6x
// nginx's CPU per request, without it about 1x. It implements what a
// front door needs and nothing more: keep-alive, pipelining, strict
// request parsing (see request.go), chunked bodies, Expect: 100-continue,
// upgrades, and the read-header, idle and send timeouts.
type Server struct {
	rt *Router
	// tls serves connections that begin with a TLS handshake; nil refuses
	// them.
	tls *tls.Config

	mu       sync.Mutex
	lns      map[net.Listener]struct{}
	conns    map[*clientConn]struct{}
	shutdown atomic.Bool
	wg       sync.WaitGroup
	// h2 serves the TLS connections that negotiated HTTP/2 (h2.go).
	h2 h2Server

	// The epoll loops (loop.go), started by the first Serve when
	// Config.Loops asks for them. closed: Close was called; stop is
	// closed by the first Shutdown or Close, and stopped is done once
	// every loop has let go of the listening sockets.
	loopsOnce sync.Once
	loops     []*loop
	loopsErr  error
	closed    atomic.Bool
	stopOnce  sync.Once
	stop      chan struct{}
	stopped   sync.WaitGroup
}

// NewServer returns a front end for rt.
func (rt *Router) NewServer() *Server {
	return &Server{rt: rt, tls: rt.tlsConfig(), lns: map[net.Listener]struct{}{}, conns: map[*clientConn]struct{}{}, stop: make(chan struct{})}
}

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("router: server closed")

// Serve accepts connections on l until Shutdown or Close, which close it.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.shutdown.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	if tl, ok := l.(*net.TCPListener); ok && s.rt.cfg.Loops > 0 {
		s.mu.Unlock()
		if err := s.serveLoops(tl); err != errNoLoops {
			return err
		}
		s.mu.Lock()
	}
	if tl, ok := l.(*net.TCPListener); ok {
		// Accepts on a duplicate of the socket (accept.go): from here on
		// only Shutdown and Close, which close both, stop it.
		l = newBareListener(tl)
	}
	s.lns[l] = struct{}{}
	s.mu.Unlock()
	delay := 5 * time.Millisecond
	for {
		c, err := l.Accept()
		if err != nil {
			if s.shutdown.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
				errors.Is(err, syscall.ECONNABORTED) {
				s.rt.logf("accept: %v; retrying in %s", err, delay)
				time.Sleep(delay)
				delay = min(2*delay, time.Second)
				continue
			}
			return err
		}
		delay = 5 * time.Millisecond
		cc := s.newConn(c)
		s.mu.Lock()
		if s.shutdown.Load() {
			s.mu.Unlock()
			c.Close()
			return ErrServerClosed
		}
		s.conns[cc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go cc.serve()
	}
}

// Shutdown stops accepting, closes idle connections at once and the
// others after their current response, waiting until they are all gone or
// ctx is done; then it closes what is left (long streams, WebSockets).
// HTTP/2 connections get GOAWAY and close once their streams are done.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdown.Store(true)
	s.stopLoops()
	s.h2.shutdown(ctx) // GOAWAY
	s.mu.Lock()
	for l := range s.lns {
		l.Close()
	}
	for cc := range s.conns {
		if cc.state.Load() == stateIdle {
			cc.raw.SetReadDeadline(aLongTimeAgo)
		}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.Close()
		<-done
		return ctx.Err()
	}
}

// Close closes every listener and connection at once; a connection's
// close completes when its goroutine is out of serveRaw's read (its
// exchange in progress is cancelled), which Shutdown's wait covers.
func (s *Server) Close() {
	s.shutdown.Store(true)
	s.closed.Store(true)
	s.stopLoops()
	s.h2.close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for l := range s.lns {
		l.Close()
	}
	for cc := range s.conns {
		// A connection inside serveRaw's read holds its descriptor, and
		// closing waits until that read returns: the end of the exchange
		// in progress, which the client watch ends at once (poked here)
		// or at its start (it sees the connection closing). So each close
		// runs on its own; the connections' goroutines end as before.
		cc.closing.Store(true)
		if f := cc.dupWatch.Load(); f != nil {
			f.SetReadDeadline(aLongTimeAgo)
		}
		go cc.raw.Close()
	}
}

const (
	// stateNew: accepted, first request not begun. Shutdown leaves such
	// a connection alone: its client may have sent the request already
	// (closing it then resets the connection under the request, which is
	// what a restart during a package upgrade did), and the read-header
	// timeout bounds the wait. net/http's Shutdown does the same.
	stateNew int32 = iota
	// stateIdle: between requests of a kept-alive connection; Shutdown
	// closes it at once (clients retry a request that meets a keep-alive
	// close).
	stateIdle
	stateActive
)

// clientConn is one client connection; one goroutine serves it.
type clientConn struct {
	srv *Server
	rt  *Router
	c   net.Conn
	// raw is the accepted connection, which c wraps once TLS starts;
	// other goroutines (Shutdown, Close) use raw, never c.
	raw net.Conn
	br  *bufio.Reader
	bw  *bufio.Writer
	ip  string
	key string // clientKey(ip)
	tls bool
	// tlsVersion is the TLS connection's version, for the access log.
	tlsVersion uint16
	state      atomic.Int32
	// trusted: the peer is in Config.TrustedProxies (forwarded.go).
	trusted bool

	// wdl is the write deadline in force. dl is the read deadline the
	// serve loop set last, as long as nothing else changed it since (zero
	// otherwise); where wdl equals it, the loop set both (waitDeadline).
	wdl, dl time.Time

	// Reused between requests; headLen is the length of the last head
	// read (for the access log of one refused).
	headBuf []byte
	headLen int
	req     request
	// hsts: the response to the request being served gets
	// Strict-Transport-Security.
	hsts bool
	// sink relays response bodies to this connection (copy.go).
	sink h1Sink
	// reqID is the request's id, idBuf its text for the app (requestid.go).
	reqID RequestID
	idBuf requestIDBuf

	// The plain connection's RawConn and serveRaw's state (rawserve.go):
	// rawFD is the descriptor while serveRaw's RawConn.Read runs or a
	// loop owns the connection (loop.go; c and raw are nil then), else
	// -1; drained says its last read left the socket empty;
	// lingerPending asks serveRaw to linger once it is out of the read.
	rc            syscall.RawConn
	rawFD         int
	drained       bool
	lingerPending bool
	// dupWatch is the duplicate a client watch peeks at, while it runs;
	// closing is set by Server.Close, which ends such a watch.
	dupWatch atomic.Pointer[os.File]
	closing  atomic.Bool

	// rx and tx count the bytes read from and written to the client
	// (clientReader, clientWriter; the TLS layer's plaintext), by one
	// goroutine at a time: the connection's, or the body sender or
	// tunnel copy it waits for. inMark is where the request being served
	// began in what was read (the start of its head).
	rx, tx, inMark int64
}

// clientWriter is what a connection's write buffer writes to: the
// connection, counted.
type clientWriter clientConn

func (w *clientWriter) Write(p []byte) (int, error) {
	cc := (*clientConn)(w)
	n, err := cc.c.Write(p)
	cc.tx += int64(n)
	return n, err
}

// markHead records that a head of n bytes was just read: the request's
// bytes in count from its start.
func (cc *clientConn) markHead(n int) {
	cc.inMark = cc.rx - int64(cc.br.Buffered()) - int64(n)
}

// bytesIn is what the request being served has read of the client's
// bytes so far (its head and its body).
func (cc *clientConn) bytesIn() int64 {
	return cc.rx - int64(cc.br.Buffered()) - cc.inMark
}

const (
	clientReadBuf  = 4 << 10
	clientWriteBuf = 32 << 10
)

// writerPool holds the client write buffers. A connection takes one for
// each response and gives it back when the response is flushed, so idle
// keep-alive connections hold none, while a response of up to 32 KiB
// (head and body) leaves in a single write.
var writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, clientWriteBuf) }}

func (cc *clientConn) takeWriter() {
	if cc.bw == nil {
		cc.bw = writerPool.Get().(*bufio.Writer)
		cc.bw.Reset((*clientWriter)(cc))
	}
}

func (cc *clientConn) releaseWriter() {
	if cc.bw != nil {
		cc.bw.Reset(nil)
		writerPool.Put(cc.bw)
		cc.bw = nil
	}
}

// readerPool holds the client read buffers: a connection keeps one for its
// life (its next request may arrive any time), and with a new connection
// per request allocating and clearing 4 KiB each time showed in profiles.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, clientReadBuf) }}

func (s *Server) newConn(c net.Conn) *clientConn {
	br := readerPool.Get().(*bufio.Reader)
	cc := &clientConn{srv: s, rt: s.rt, c: c, raw: c, br: br, rawFD: -1}
	br.Reset((*clientReader)(cc))
	if bc, ok := c.(*bareConn); ok {
		if rc, err := bc.File.SyscallConn(); err == nil {
			cc.rc = rc
		}
	}
	cc.ip = clientIP(c.RemoteAddr().String())
	cc.key = clientKey(cc.ip)
	cc.trusted = s.rt.trusts(cc.ip)
	return cc
}

func (cc *clientConn) close() {
	cc.c.Close()
	cc.releaseWriter()
	// Nothing reads it any more: the client watch, a body sender and a
	// tunnel's copy have ended before the connection's goroutine closes.
	// (HTTP/2 dropped it already.)
	if cc.br != nil {
		cc.br.Reset(nil)
		readerPool.Put(cc.br)
		cc.br = nil
	}
	s := cc.srv
	s.mu.Lock()
	delete(s.conns, cc)
	s.mu.Unlock()
	s.wg.Done()
}

func (cc *clientConn) serve() {
	defer cc.close()
	defer cc.recoverPanic()
	first, wait := true, cc.rt.cfg.ReadHeaderTimeout // the first request must come quickly
	var begun time.Time
	if cc.rc != nil {
		var ok bool
		if first, wait, begun, ok = cc.serveRaw(); !ok {
			return
		}
	}
	cc.serveLoop(first, wait, begun, cc.rc != nil)
}

// serveLoop serves the connection's requests: all of a TLS connection's,
// the rest of a plain one's once serveRaw hands it over. armed: the wait
// for the first of them has its deadline already (serveRaw's, which a
// TLS handshake stays under); begun is when its head started.
func (cc *clientConn) serveLoop(first bool, wait time.Duration, begun time.Time, armed bool) {
	cfg := &cc.rt.cfg
	for ; ; first, armed = false, false {
		switch {
		case armed:
		case !first:
			cc.state.Store(stateIdle)
			if cc.srv.shutdown.Load() {
				return
			}
		}
		// One deadline for both directions: reading waits for the next
		// request; writing the response is bounded by it too (armWrite
		// extends it when it is close). A new connection has written
		// nothing yet: it gets the read deadline alone, and armWrite sets
		// the write deadline before the first write (one runtime timer
		// less per connection, which shows with a connection per request).
		switch {
		case armed:
		case first:
			cc.dl = time.Now().Add(wait)
			cc.c.SetReadDeadline(cc.dl)
		default:
			cc.waitDeadline(time.Now().Add(wait), wait)
		}
		b, err := cc.br.Peek(1)
		if err != nil {
			return
		}
		if first && b[0] == tlsHandshake {
			// The handshake writes too, under the read-header timeout.
			cc.wdl = cc.dl
			cc.c.SetWriteDeadline(cc.wdl)
			if !cc.startTLS() {
				return
			}
			if _, err := cc.br.Peek(1); err != nil {
				return
			}
		}
		cc.state.Store(stateActive)
		start := time.Now()
		if !begun.IsZero() {
			start, begun = begun, time.Time{}
		}
		// A head that arrived whole needs no read-header deadline: reading
		// it will not block. Only a partial one gets the deadline.
		if b, _ := cc.br.Peek(cc.br.Buffered()); wire.HeadEnd(b) < 0 {
			cc.dl = time.Time{}
			cc.c.SetReadDeadline(start.Add(cfg.ReadHeaderTimeout))
		}
		head, err := wire.ReadHead(cc.br, cc.headBuf, cfg.MaxHeaderBytes)
		cc.headBuf, cc.headLen = head[:0], len(head)
		if err != nil {
			var re *wire.RequestError
			if errors.As(err, &re) {
				cc.refuse(re, start)
			}
			return // timeouts and EOF: just close (as net/http does)
		}
		cc.markHead(len(head))
		req := &cc.req
		if err := req.parse(string(head)); err != nil {
			cc.refuse(err.(*wire.RequestError), start)
			return
		}
		if !cc.handle(req, start) {
			return
		}
		if req.ContentLength != 0 {
			cc.dl = time.Time{} // the body's reads had deadlines of their own
		}
		wait = cfg.IdleTimeout
	}
}

// refuse answers a request that could not be parsed and closes.
func (cc *clientConn) refuse(re *wire.RequestError, start time.Time) {
	cc.takeWriter()
	tx := cc.tx
	cc.writeSimple(re.Status, statusText(re.Status)+": "+re.Msg+"\n", "", true)
	e := AccessEntry{Time: start, Status: re.Status, Duration: time.Since(start), BytesIn: int64(cc.headLen), BytesOut: cc.tx - tx,
		Client: cc.ip, TLSVersion: cc.tlsVersion, RequestID: RequestID{Seq: idSeq.Add(1)}}
	cc.rt.account(nil, nil, &e, protoHTTP11)
	cc.lingerClose()
	cc.rt.access.Log(e)
}

// lingerClose ends a connection after a response while the client may
// still be sending (a body the router did not read): closing with unread
// data would reset the connection and could destroy the response before
// the client reads it. So: send FIN, then read and drop what comes, for
// half a second or 1 MiB at most, as net/http does.
func (cc *clientConn) lingerClose() {
	cc.bw.Flush()
	cc.lingerDrain()
}

// lingerDrain is lingerClose after the flush.
func (cc *clientConn) lingerDrain() {
	if cw, ok := cc.c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	cc.c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	io.CopyN(discard, cc.br, 1<<20)
}

// handle routes and forwards one request; false closes the connection.
func (cc *clientConn) handle(req *request, start time.Time) bool {
	rt := cc.rt
	cc.takeWriter()
	defer cc.releaseWriter()
	cc.reqID = newRequestID(req.RequestID, cc.trusted)
	tx := cc.tx
	host := normalizeHost(req.Host)
	rte := rt.table.Load().lookup(host, req.Path)
	var a *appState
	var res result
	switch {
	case !cc.tls && strings.HasPrefix(req.Path, acmeChallengePrefix) && cc.acmeChallenge(req, host, &res):
	case rte == nil:
		res = cc.simple(req, 404, "404 Not Found\n", "")
	case rte.held:
		a = rte.app
		res = cc.simple(req, 503, heldPage, heldRetry)
	case cc.toHTTPS(rte, req):
		res = cc.redirectHTTPS(req, host)
	default:
		a = rte.app
		cc.hsts = rte.hsts && cc.secure(req)
		res = cc.serveApp(req, a, start)
	}
	return cc.finishRequest(req, rte, a, res, start, tx)
}

// finishRequest logs and counts a request that was answered (res), and
// ends the connection when res says so; false closes the connection. tx
// is cc.tx before the answer.
func (cc *clientConn) finishRequest(req *request, rte *route, a *appState, res result, start time.Time, tx int64) bool {
	cc.logRequest(req, rte, a, res, start, cc.tx+int64(cc.bw.Buffered())-tx)
	if res.close {
		switch {
		case res.status == statusClientGone || res.status == 101:
		case req.Close && req.ContentLength == 0 && cc.br.Buffered() == 0:
			// The client asked for the close and sent nothing more: no
			// unread data can reset the connection under the response, so
			// no linger (nginx lingers on the same signs only). That spares
			// a connection per request a shutdown, a read and a wake-up.
			cc.bw.Flush()
		case cc.rawFD >= 0:
			// The rest after serveRaw's RawConn.Read (it reads).
			cc.bw.Flush()
			cc.lingerPending = true
		default:
			cc.lingerClose()
		}
		return false
	}
	if err := cc.bw.Flush(); err != nil {
		return false
	}
	return !req.Close && !cc.srv.shutdown.Load()
}

// logRequest writes the access log entry of a request and counts it in
// the metrics; bytesOut is what its answer sent the client.
func (cc *clientConn) logRequest(req *request, rte *route, a *appState, res result, start time.Time, bytesOut int64) {
	rt := cc.rt
	e := AccessEntry{Time: start, Method: req.Method, Host: req.Host, Path: req.Path, Status: res.status, Duration: time.Since(start),
		BytesIn: cc.bytesIn(), BytesOut: bytesOut,
		Client: cc.ip, UserAgent: req.UserAgent, Proto: "HTTP/1.1", TLSVersion: cc.tlsVersion, RequestID: cc.reqID}
	if req.HTTP10 {
		e.Proto = "HTTP/1.0"
	}
	if a != nil {
		e.Tenant, e.App = a.tenant.name, a.name
	}
	proto := protoHTTP11
	if req.HTTP10 {
		proto = protoHTTP10
	}
	rt.account(rte, a, &e, proto)
	rt.access.Log(e)
}

// toHTTPS says whether req, for rte, is redirected to HTTPS: a domain
// served over HTTPS reached over plain HTTP (no HTTPS to send anyone to
// without certificates, though).
func (cc *clientConn) toHTTPS(rte *route, req *request) bool {
	return rte.https && !cc.secure(req) && cc.srv.tls != nil
}

func (cc *clientConn) serveApp(req *request, a *appState, start time.Time) result {
	rt := cc.rt
	t := a.tenant
	if req.Upgrade != "" {
		n := t.upgraded.Add(1)
		defer t.upgraded.Add(-1)
		if m := t.maxUpgraded.Load(); m > 0 && n > m {
			a.refused(refusedTenantCap)
			return cc.simple(req, 503, "503 Service Unavailable\n", "1")
		}
		if m := rt.cfg.MaxBodyBytes; m > 0 && req.ContentLength > m {
			return cc.simple(req, 413, "413 Request Entity Too Large\n", "")
		}
	} else {
		// The client's count comes first and covers the time its body is
		// read, which bounds what one address can make the router buffer.
		ok, counted := rt.clients.acquire(t, cc.key)
		if !ok {
			a.refused(refusedClientCap)
			return cc.simple(req, 429, "429 Too Many Requests\n", "1")
		}
		if counted {
			defer rt.clients.release(t, cc.key)
		}
		if m := rt.cfg.MaxBodyBytes; m > 0 && req.ContentLength > m {
			return cc.simple(req, 413, "413 Request Entity Too Large\n", "")
		}
		if req.ContentLength != 0 {
			res, ok := cc.bufferBody(req)
			defer cc.releaseBody(req)
			if !ok {
				return res
			}
		}
		if !t.tryAcquire() {
			a.refused(refusedTenantCap)
			return cc.simple(req, 503, "503 Service Unavailable\n", "1")
		}
		defer t.release()
		if req.ContentLength != 0 && !req.bodyDone {
			if !t.tryStream() {
				a.refused(refusedTenantCap)
				return cc.simple(req, 503, "503 Service Unavailable\n", "1")
			}
			defer t.endStream()
		}
	}
	a.begin(start.UnixNano())
	defer func() { a.end(time.Now().UnixNano()) }()
	return rt.forward(cc, req, a)
}

// simple writes one of the router's own short, neutral answers. The
// connection is closed after it when the request has a body the router
// did not read.
func (cc *clientConn) simple(req *request, code int, body, retryAfter string) result {
	closeConn := req.ContentLength != 0 && !req.bodyDone || req.Close || cc.srv.shutdown.Load()
	cc.writeSimple(code, body, retryAfter, closeConn)
	return result{status: code, close: closeConn}
}

// waitDeadline sets the deadline of both directions to dl, the end of
// the wait for the next request. A connection that was handed the same
// deadline for its previous request, less than the grain ago, keeps that
// one: setting a deadline modifies a runtime timer, and on kept-alive
// connections that carry many requests a second this was one timer
// change per request for a deadline that moved by milliseconds. So an
// idle timeout fires between wait - grain and wait after the last
// request, never later (docs/OPERATIONS.md "Timeouts").
func (cc *clientConn) waitDeadline(dl time.Time, wait time.Duration) {
	if !cc.dl.IsZero() && cc.wdl.Equal(cc.dl) && !cc.dl.After(dl) && dl.Sub(cc.dl) <= deadlineGrain(wait) {
		return
	}
	cc.dl, cc.wdl = dl, dl
	cc.c.SetDeadline(dl)
}

// deadlineGrain is how much earlier than its exact time a wait of length
// wait may end: a sixteenth of it, at most a second (so the 120 s idle
// timeout ends after 119 to 120 s, the tests' 300 ms one after 282 to
// 300 ms).
func deadlineGrain(wait time.Duration) time.Duration {
	return min(wait/16, time.Second)
}

// armWrite makes sure the client has at least half of sendTimeout to
// take what the router writes next; most requests need no call.
func (cc *clientConn) armWrite() {
	now := time.Now()
	if cc.wdl.Sub(now) < sendTimeout/2 {
		cc.wdl = now.Add(sendTimeout)
		cc.c.SetWriteDeadline(cc.wdl)
	}
}

func (cc *clientConn) writeSimple(code int, body, retryAfter string, closeConn bool) {
	bw := cc.bw
	cc.armWrite()
	bw.WriteString("HTTP/1.1 ")
	bw.WriteString(strconv.Itoa(code))
	bw.WriteByte(' ')
	bw.WriteString(statusText(code))
	bw.WriteString("\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nContent-Length: ")
	bw.WriteString(strconv.Itoa(len(body)))
	if retryAfter != "" {
		bw.WriteString("\r\nRetry-After: ")
		bw.WriteString(retryAfter)
	}
	if closeConn {
		bw.WriteString("\r\nConnection: close")
	}
	bw.WriteString("\r\n\r\n")
	bw.WriteString(body)
	if closeConn {
		bw.Flush()
	}
}

// sendTimeout bounds how long a client may leave a response unread
// between two flushes (nginx's send_timeout).
const sendTimeout = 60 * time.Second

func statusText(code int) string {
	switch code {
	case 200:
		return "OK"
	case 301:
		return "Moved Permanently"
	case 308:
		return "Permanent Redirect"
	case 400:
		return "Bad Request"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 413:
		return "Request Entity Too Large"
	case 417:
		return "Expectation Failed"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Error"
}

// discard is io.Discard, named for reading what is left of a body.
var discard = io.Discard
