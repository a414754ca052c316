package router

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// copyBufPool holds the buffers bodies are copied through.
var copyBufPool = sync.Pool{New: func() any { return new([32 << 10]byte) }}

// inlineBody: request bodies of known length up to this size are written
// before the response is read, on the connection's goroutine (they fit the
// socket buffer). Larger and chunked bodies are sent from a goroutine while
// the response is read, so an app may answer (or stream) before it has
// consumed the whole body.
const inlineBody = 64 << 10

var (
	errBodyTooLarge = errors.New("request body too large")
	errBadResponse  = errors.New("malformed response from app")
	errHeaderTooBig = errors.New("response head from app too large")
	errClientGone   = errors.New("client went away")
	aLongTimeAgo    = time.Unix(1, 0)
)

// statusClientGone is logged when the client left before the response.
const statusClientGone = 499

// result of one request, for the access log and the connection loop.
type result struct {
	status int
	// close: the client connection must be closed (a response could not
	// be completed, a body was left unread, or the client asked).
	close bool
}

// forward sends req to one worker of a and relays the response.
func (rt *Router) forward(cc *clientConn, req *request, a *appState) result {
	up := a.pick()
	up.active.Add(1)
	defer up.active.Add(-1)

	hasBody := req.contentLength != 0
	replayable := !hasBody && req.upgrade == "" &&
		(req.method == "GET" || req.method == "HEAD" || req.method == "OPTIONS" || req.method == "TRACE")
	c, err := up.get()
	if err != nil {
		return rt.upstreamError(cc, req, a, err, false)
	}
	for attempt := 0; ; attempt++ {
		res, retry := rt.exchange(cc, req, a, c, hasBody)
		if !retry {
			return res
		}
		if !replayable || attempt > 0 {
			return rt.upstreamError(cc, req, a, errBadResponse, false)
		}
		// A pooled connection the app had closed: the request was not
		// processed, send it again on a fresh connection.
		if c, err = up.dial(); err != nil {
			return rt.upstreamError(cc, req, a, err, false)
		}
	}
}

// exchange runs one request/response on c. retry is true when c was a
// pooled connection that failed before anything was read from it.
func (rt *Router) exchange(cc *clientConn, req *request, a *appState, c *uconn, hasBody bool) (res result, retry bool) {
	fresh := !c.reused
	// A body read whole already leaves the client connection free to be
	// watched, as for a request without one.
	c.begin(cc, hasBody && !req.bodyDone)
	now := time.Now()
	deadline := now.Add(watchAfter)
	if fresh && rt.cfg.StartTimeout > 0 {
		c.startDeadline = now.Add(rt.cfg.StartTimeout)
		if c.startDeadline.Before(deadline) {
			deadline = c.startDeadline
		}
	}
	c.c.SetReadDeadline(deadline)
	writeRequestHead(c.bw, req, cc)

	var body *bodySender
	var werr error
	switch {
	case !hasBody:
		werr = c.bw.Flush()
	case req.bodyDone:
		c.bw.Write(req.body)
		werr = c.bw.Flush()
	default:
		if req.expectContinue {
			cc.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			cc.bw.Flush()
		}
		if req.bodyRest != nil {
			src := io.MultiReader(bytes.NewReader(req.body), req.bodyRest)
			body = startBody(c, src, req.contentLength < 0, rt.cfg.MaxBodyBytes)
		} else if req.contentLength > 0 && req.contentLength <= inlineBody {
			werr = sendBody(c.bw, newBodyReader(cc, req.contentLength), false, 0, nil)
			if isClientBodyError(werr) {
				c.disarm()
				c.c.Close()
				return rt.clientBodyError(cc, req, werr), false
			}
		} else {
			body = startBody(c, newBodyReader(cc, req.contentLength), req.contentLength < 0, rt.cfg.MaxBodyBytes)
		}
	}
	if werr != nil && !hasBody {
		c.disarm()
		c.c.Close()
		if c.reused {
			return result{}, true
		}
		return rt.upstreamError(cc, req, a, werr, false), false
	}
	// With a failed body write, still read: the app may have answered early.

	block, rh, err := readResponseHead(c, req.method == "HEAD")
	if err != nil {
		gone := c.disarm()
		c.c.Close()
		if body != nil {
			if berr := <-body.done; isClientBodyError(berr) {
				return rt.clientBodyError(cc, req, berr), false
			}
		}
		if gone || errors.Is(err, errClientGone) {
			return result{status: statusClientGone, close: true}, false
		}
		if c.reused && rh.nothingRead && !hasBody {
			return result{}, true
		}
		return rt.upstreamError(cc, req, a, err, fresh && rh.nothingRead), false
	}

	if rh.status == 101 {
		if c.disarm() || req.upgrade == "" {
			c.c.Close()
			return rt.upstreamError(cc, req, a, errBadResponse, false), false
		}
		cc.armWrite()
		writeClientHead(cc.bw, block, &rh, c, false, false, false)
		c.br.Discard(len(block))
		return rt.tunnel(cc, c), false
	}

	closeClient := req.close || cc.srv.shutdown.Load() || body != nil && !body.eof.Load()
	chunkOut := false
	if !rh.noBody && rh.length < 0 {
		if req.http10 {
			closeClient = true // the body ends with the connection
		} else {
			chunkOut = true
		}
	}
	cc.armWrite()
	writeClientHead(cc.bw, block, &rh, c, closeClient, req.http10 && !closeClient, chunkOut)
	c.br.Discard(len(block))
	complete, cerr := copyBody(cc, c, &rh, chunkOut)
	reusable := complete && !rh.close
	if body != nil {
		select {
		case berr := <-body.done:
			reusable = reusable && berr == nil
		default:
			if body.eof.Load() {
				// Only the final flush to the app is left.
				reusable = reusable && <-body.done == nil
			} else {
				// The app answered before the client sent the whole body:
				// stop reading it; the client connection is closed.
				reusable = false
				closeClient = true
				c.c.Close()
				cc.c.SetReadDeadline(aLongTimeAgo)
				<-body.done
			}
		}
	}
	if c.disarm() || !reusable {
		c.c.Close()
	} else {
		c.up.put(c)
	}
	if cerr != nil {
		if !errors.Is(cerr, errClientGone) {
			rt.appLogf(a, "%s: response body: %v", c.up.path, cerr)
		}
		return result{status: rh.status, close: true}, false
	}
	return result{status: rh.status, close: closeClient}, false
}

// watchAfter: a response that keeps the router waiting longer than this
// starts a watch of the client connection that aborts the upstream I/O
// when the client goes away. Fast responses (nearly all) never pay for
// it: they are read under a read deadline that merely wakes the router
// after watchAfter.
const watchAfter = 100 * time.Millisecond

// begin resets the per-exchange state of c.
func (c *uconn) begin(cc *clientConn, hasBody bool) {
	c.cc, c.armed, c.noWatch, c.w, c.startDeadline = cc, false, hasBody, nil, time.Time{}
}

// beforeBlock is called before a read from the app that may block for
// long: once per exchange it replaces the short deadline by the start
// deadline (fresh connection before the first byte) or none, and starts
// watching the client. A request with a body is not watched: its body is
// being read from the client connection, and a client that goes away
// fails that read instead.
func (c *uconn) beforeBlock() error {
	if c.armed {
		return nil
	}
	c.armed = true
	c.c.SetReadDeadline(c.startDeadline)
	if c.noWatch {
		return nil
	}
	w := &clientWatch{done: make(chan struct{})}
	c.w = w
	// The client's read deadline (idle or read-header timeout) is for the
	// client's requests, not for how long the app may take.
	c.cc.c.SetReadDeadline(time.Time{})
	go w.run(c.cc.br, c)
	return nil
}

// arrived is called once the first byte of the response is in: the start
// deadline no longer applies.
func (c *uconn) arrived() error {
	if c.startDeadline.IsZero() {
		return nil
	}
	c.startDeadline = time.Time{}
	if !c.armed {
		return nil // the short deadline is still in force
	}
	c.c.SetReadDeadline(time.Time{})
	// Checked after clearing: a watch that fired before is seen here, one
	// that fires later poisons the deadline after it was cleared.
	if c.w != nil && c.w.gone.Load() {
		return errClientGone
	}
	return nil
}

// disarm stops the client watch; true when it saw the client go (the
// connection's deadlines are poisoned and it must be closed).
func (c *uconn) disarm() bool {
	w, cc := c.w, c.cc
	c.w, c.cc = nil, nil
	if w == nil {
		return false
	}
	w.stopping.Store(true)
	cc.c.SetReadDeadline(aLongTimeAgo)
	<-w.done
	return w.gone.Load()
}

// clientWatch waits for the client to close while the router waits on the
// app. It peeks at the client connection, which nothing else reads
// meanwhile; a pipelined request just ends the watch.
type clientWatch struct {
	done     chan struct{}
	gone     atomic.Bool
	stopping atomic.Bool
}

func (w *clientWatch) run(br *bufio.Reader, c *uconn) {
	defer close(w.done)
	_, err := br.Peek(1)
	var ne net.Error
	if err != nil && !w.stopping.Load() && !(errors.As(err, &ne) && ne.Timeout()) {
		w.gone.Store(true)
		c.c.SetDeadline(aLongTimeAgo)
	}
}

// bodySender streams a request body to the app while the response is read.
type bodySender struct {
	done chan error
	// eof: the whole body was read from the client.
	eof atomic.Bool
}

func startBody(c *uconn, body io.Reader, chunked bool, limit int64) *bodySender {
	b := &bodySender{done: make(chan error, 1)}
	go func() {
		err := sendBody(c.bw, body, chunked, limit, &b.eof)
		if isClientBodyError(err) {
			c.c.Close() // unblock the response read
		}
		b.done <- err
	}()
	return b
}

// bodyReader reads a request body of known length, or a chunked one, from
// the client connection. A client must keep sending at a pace: a body
// earns 1/BodyMinRate seconds of time per byte and may fall up to
// BodyTimeout behind that pace, no more, and bank no more than BodyTimeout
// ahead of it either, so a pause longer than BodyTimeout is always late.
// A deadline per read alone (nginx's client_body_timeout) lets a client
// hold a request open for hours with a byte a minute.
type bodyReader struct {
	cc        *clientConn
	remaining int64
	chunked   io.Reader
	// due: the body is late past it; rdl is the read deadline in force.
	due, rdl time.Time
	timeout  time.Duration
	// nsPerByte is the time each byte earns; 0 without a minimum rate.
	nsPerByte int64
}

func newBodyReader(cc *clientConn, n int64) *bodyReader {
	cfg := &cc.rt.cfg
	b := &bodyReader{cc: cc, remaining: n, timeout: cfg.BodyTimeout, due: time.Now().Add(cfg.BodyTimeout)}
	if cfg.BodyMinRate > 0 {
		b.nsPerByte = max(int64(time.Second)/cfg.BodyMinRate, 1)
	}
	b.arm() // replaces the idle or read-header deadline
	if n < 0 {
		b.chunked = httputil.NewChunkedReader(cc.br)
	}
	return b
}

func (b *bodyReader) arm() {
	if limit := time.Now().Add(b.timeout); b.nsPerByte == 0 || b.due.After(limit) {
		b.due = limit
	}
	if !b.due.Equal(b.rdl) {
		b.rdl = b.due
		b.cc.c.SetReadDeadline(b.rdl)
	}
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.read(p)
	if b.nsPerByte > 0 {
		b.due = b.due.Add(time.Duration(int64(n) * b.nsPerByte))
	}
	return n, err
}

func (b *bodyReader) read(p []byte) (int, error) {
	br := b.cc.br
	if br.Buffered() == 0 || b.rdl.IsZero() {
		b.arm()
	}
	if b.chunked != nil {
		n, err := b.chunked.Read(p)
		if err == io.EOF && !skipTrailer(br) {
			return n, io.ErrUnexpectedEOF
		}
		return n, err
	}
	if b.remaining <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := br.Read(p)
	b.remaining -= int64(n)
	if err == io.EOF && b.remaining > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// writeRequestHead writes the request line and header for the app: the
// client's end-to-end fields, the original Host, the X-Forwarded-* set
// (X-Forwarded-For appended to, -Proto and -Host replaced) and the body
// framing, which the router always sets itself.
func writeRequestHead(bw *bufio.Writer, req *request, cc *clientConn) {
	bw.WriteString(req.method)
	bw.WriteByte(' ')
	bw.WriteString(req.target)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(req.host)
	bw.WriteString("\r\n")
	for _, h := range req.headers {
		bw.WriteString(h.name)
		bw.WriteString(": ")
		bw.WriteString(h.value)
		bw.WriteString("\r\n")
	}
	bw.WriteString("X-Forwarded-For: ")
	for _, v := range req.xff {
		bw.WriteString(v)
		bw.WriteString(", ")
	}
	bw.WriteString(cc.ip)
	if cc.tls {
		bw.WriteString("\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: ")
	} else {
		bw.WriteString("\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: ")
	}
	bw.WriteString(req.host)
	bw.WriteString("\r\n")
	if req.upgrade != "" {
		bw.WriteString("Connection: Upgrade\r\nUpgrade: ")
		bw.WriteString(req.upgrade)
		bw.WriteString("\r\n")
	}
	switch {
	case req.contentLength > 0:
		bw.WriteString("Content-Length: ")
		var nb [20]byte
		bw.Write(strconv.AppendInt(nb[:0], req.contentLength, 10))
		bw.WriteString("\r\n")
	case req.contentLength < 0:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	case req.hasCL:
		bw.WriteString("Content-Length: 0\r\n")
	}
	bw.WriteString("\r\n")
}

// clientIP is the address part of a RemoteAddr, without allocation.
func clientIP(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i > 0 {
		addr = addr[:i]
	}
	if len(addr) > 1 && addr[0] == '[' && addr[len(addr)-1] == ']' {
		addr = addr[1 : len(addr)-1]
	}
	return addr
}

// sendBody copies a request body to the app, flushing after every read so
// that streamed uploads flow. chunked re-encodes a body of unknown length;
// limit caps such a body (a known length was checked before).
func sendBody(bw *bufio.Writer, body io.Reader, chunked bool, limit int64, eof *atomic.Bool) error {
	buf := copyBufPool.Get().(*[32 << 10]byte)
	defer copyBufPool.Put(buf)
	var total int64
	for {
		n, rerr := body.Read(buf[:])
		if n > 0 {
			total += int64(n)
			if chunked {
				if limit > 0 && total > limit {
					return errBodyTooLarge
				}
				var hb [20]byte
				bw.Write(strconv.AppendInt(hb[:0], int64(n), 16))
				bw.WriteString("\r\n")
			}
			bw.Write(buf[:n])
			if chunked {
				bw.WriteString("\r\n")
			}
			if err := bw.Flush(); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return &clientBodyError{rerr}
		}
	}
	if eof != nil {
		eof.Store(true)
	}
	if chunked {
		bw.WriteString("0\r\n\r\n")
	}
	return bw.Flush()
}

// clientBodyError is a failure to read the request body from the client
// (as opposed to a failure to write it to the app).
type clientBodyError struct{ err error }

func (e *clientBodyError) Error() string { return "reading request body: " + e.err.Error() }
func (e *clientBodyError) Unwrap() error { return e.err }

func isClientBodyError(err error) bool {
	var ce *clientBodyError
	return err == errBodyTooLarge || errors.As(err, &ce)
}

// clientBodyError answers a request whose body could not be read: 413
// over the size limit, 408 when it came too slowly (the deadline of
// bodyReader), 400 otherwise (nothing when the client is gone).
func (rt *Router) clientBodyError(cc *clientConn, req *request, err error) result {
	if err == errBodyTooLarge {
		return cc.simple(req, 413, "413 Request Entity Too Large\n", "")
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return cc.simple(req, 408, "408 Request Timeout: the request body came too slowly\n", "")
	}
	var ne net.Error
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne) {
		return result{status: statusClientGone, close: true}
	}
	return cc.simple(req, 400, "400 Bad Request: malformed body\n", "")
}

// respHead is what the router needs to know about a response's framing.
type respHead struct {
	status int
	// length of the body, -1 when unknown (chunked or until close).
	length  int64
	chunked bool
	// noBody: HEAD, 1xx, 204, 304.
	noBody bool
	// close: the app closes the connection after this response.
	close bool
	// nothingRead: the read failed before the first byte arrived.
	nothingRead bool
	// clPassed: a Content-Length line was written to the client.
	clPassed bool
}

// readResponseHead waits for a response head from the app and scans it,
// skipping interim 1xx responses (not 101). block is the head as it sits
// in c's read buffer (valid until the next read); the caller discards it.
func readResponseHead(c *uconn, head bool) (block []byte, rh respHead, err error) {
	br := c.br
	for {
		if _, err = br.Peek(1); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) || c.armed {
				rh.nothingRead = true
				return nil, rh, err
			}
			// No answer within watchAfter: wait on, watching the client.
			if err = c.beforeBlock(); err != nil {
				rh.nothingRead = true
				return nil, rh, err
			}
			continue
		}
		if err = c.arrived(); err != nil {
			return nil, rh, err
		}
		for {
			b, _ := br.Peek(br.Buffered())
			if end := headEnd(b); end > 0 {
				block = b[:end]
				break
			}
			if len(b) >= br.Size() {
				return nil, rh, errHeaderTooBig
			}
			if err = c.beforeBlock(); err != nil {
				return nil, rh, err
			}
			if _, err = br.Peek(len(b) + 1); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return nil, rh, err
			}
		}
		rh, err = scanResponseHead(block, head, c)
		if err != nil {
			return nil, rh, err
		}
		if rh.status >= 200 || rh.status == 101 {
			return block, rh, nil
		}
		br.Discard(len(block)) // 100 Continue, 103 Early Hints: skip
	}
}

// headEnd returns the length of the head (through its empty line) in b,
// or -1 when b holds no complete head. Bare LF line ends are accepted.
func headEnd(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		if i > 0 && (j == 0 || (j == 1 && b[i] == '\r')) {
			return i + j + 1
		}
		i += j + 1
	}
}

func cutLine(s string) (line, rest string) {
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		return s, ""
	}
	line, rest = s[:i], s[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

func cutLineB(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return b, nil
	}
	line, rest = b[:i], b[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

// Response field kinds.
const (
	rOther = iota
	rHop   // hop-by-hop: never passed on
	rConnection
	rTransferEncoding
	rContentLength
	rUpgrade
)

func respKind(name []byte) int {
	switch len(name) {
	case 2:
		if eqFold(name, "te") {
			return rHop
		}
	case 7:
		if eqFold(name, "upgrade") {
			return rUpgrade
		}
		if eqFold(name, "trailer") {
			return rHop
		}
	case 10:
		if eqFold(name, "connection") {
			return rConnection
		}
		if eqFold(name, "keep-alive") {
			return rHop
		}
	case 14:
		if eqFold(name, "content-length") {
			return rContentLength
		}
	case 16:
		if eqFold(name, "proxy-connection") {
			return rHop
		}
	case 17:
		if eqFold(name, "transfer-encoding") {
			return rTransferEncoding
		}
	case 18:
		if eqFold(name, "proxy-authenticate") {
			return rHop
		}
	}
	return rOther
}

// eqFold compares ASCII case-insensitively; s is lower case.
func eqFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// scanResponseHead validates a complete response head and works out its
// framing. Connection-listed field names are kept in c for the writer.
func scanResponseHead(b []byte, head bool, c *uconn) (rh respHead, err error) {
	line, rest := cutLineB(b)
	// HTTP/1.x SSS reason
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return rh, errBadResponse
	}
	code := 0
	for _, d := range line[9:12] {
		if !isDigit(d) {
			return rh, errBadResponse
		}
		code = code*10 + int(d-'0')
	}
	if code < 100 {
		return rh, errBadResponse
	}
	rh.status, rh.length = code, -1
	http10 := line[7] == '0'
	keepAlive := false
	haveCL := false
	c.connTokens = c.connTokens[:0]
	for {
		line, rest = cutLineB(rest)
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return rh, errBadResponse // obsolete line folding
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return rh, errBadResponse
		}
		name := line[:colon]
		for _, ch := range name {
			if !isTokenChar(ch) {
				return rh, errBadResponse
			}
		}
		v := trimOWS(line[colon+1:])
		switch respKind(name) {
		case rConnection:
			for len(v) > 0 {
				var f []byte
				if i := bytes.IndexByte(v, ','); i >= 0 {
					f, v = v[:i], v[i+1:]
				} else {
					f, v = v, nil
				}
				f = trimOWS(f)
				switch {
				case eqFold(f, "close"):
					rh.close = true
				case eqFold(f, "keep-alive"):
					keepAlive = true
				case eqFold(f, "upgrade"):
				case len(f) > 0:
					c.connTokens = append(c.connTokens, f)
				}
			}
		case rTransferEncoding:
			// Any transfer coding makes the length unknown; only chunked
			// (last) is decodable.
			last := v[bytes.LastIndexByte(v, ',')+1:]
			if eqFold(trimOWS(last), "chunked") {
				rh.chunked = true
			} else {
				rh.close = true
			}
		case rContentLength:
			n, ok := parseContentLength(string(v))
			if !ok || haveCL && n != rh.length {
				return rh, errBadResponse
			}
			rh.length, haveCL = n, true
		}
	}
	if http10 && !keepAlive {
		rh.close = true
	}
	if rh.chunked {
		rh.length = -1 // RFC 9112 §6.3: Transfer-Encoding wins
	}
	if head || code < 200 || code == 204 || code == 304 {
		rh.noBody = true
		rh.chunked = false
		if !haveCL {
			rh.length = 0
		}
	} else if !rh.chunked && rh.length < 0 {
		rh.close = true // body until close
	}
	return rh, nil
}

// writeClientHead writes the client-facing head: the app's status and
// end-to-end fields, then the router's own framing and connection fields.
func writeClientHead(bw *bufio.Writer, b []byte, rh *respHead, c *uconn, closeConn, keepAlive10, chunkOut bool) {
	line, rest := cutLineB(b)
	bw.WriteString("HTTP/1.1 ")
	bw.Write(line[9:])
	bw.WriteString("\r\n")
	clDone := false
	for {
		line, rest = cutLineB(rest)
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		name := line[:colon]
		switch respKind(name) {
		case rOther:
			if c.listed(name) {
				continue
			}
		case rContentLength:
			if rh.chunked || clDone {
				continue
			}
			clDone = true
		case rUpgrade:
			if rh.status != 101 {
				continue
			}
		default:
			continue
		}
		bw.Write(name)
		bw.WriteString(": ")
		bw.Write(trimOWS(line[colon+1:]))
		bw.WriteString("\r\n")
	}
	rh.clPassed = clDone
	switch {
	case rh.status == 101:
		bw.WriteString("Connection: Upgrade\r\n")
	case closeConn:
		bw.WriteString("Connection: close\r\n")
	case keepAlive10:
		bw.WriteString("Connection: keep-alive\r\n")
	}
	if chunkOut {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	bw.WriteString("\r\n")
}

// listed reports whether the app's Connection header named this field.
func (c *uconn) listed(name []byte) bool {
	for _, t := range c.connTokens {
		if len(t) == len(name) && eqFold(name, strings.ToLower(string(t))) {
			return true
		}
	}
	return false
}

// copyBody relays a response body from the app to the client. Data the
// app has already sent is written as it is; before every read that would
// block, what was written is flushed to the client, so streams (SSE, long
// downloads) reach it as they are produced while a small response still
// leaves in a single write. chunkOut chunk-encodes a body of unknown
// length. complete: read to its end with the app connection reusable.
func copyBody(cc *clientConn, c *uconn, rh *respHead, chunkOut bool) (complete bool, err error) {
	if rh.noBody {
		return true, nil
	}
	br, bw := c.br, cc.bw
	pending := true // the head is not flushed yet
	var buf *[32 << 10]byte
	defer func() {
		if buf != nil {
			copyBufPool.Put(buf)
		}
	}()
	write := func(p []byte) error {
		if chunkOut {
			var hb [20]byte
			bw.Write(strconv.AppendInt(hb[:0], int64(len(p)), 16))
			bw.WriteString("\r\n")
			bw.Write(p)
			_, err := bw.WriteString("\r\n")
			return err
		}
		_, err := bw.Write(p)
		return err
	}
	var src io.Reader = br
	remaining := rh.length // -1: unknown
	if rh.chunked {
		src = httputil.NewChunkedReader(br)
		// The chunked reader may block anywhere: watch from the start.
		c.beforeBlock()
	}
	for remaining != 0 {
		if !rh.chunked && br.Buffered() > 0 {
			// Write straight from the read buffer.
			n := br.Buffered()
			if remaining > 0 && int64(n) > remaining {
				n = int(remaining)
			}
			b, _ := br.Peek(n)
			if write(b) != nil {
				return false, errClientGone
			}
			br.Discard(n)
			pending = true
			if remaining > 0 {
				remaining -= int64(n)
			}
			continue
		}
		if buf == nil {
			buf = copyBufPool.Get().(*[32 << 10]byte)
		}
		p := buf[:]
		if remaining > 0 && int64(len(p)) > remaining {
			p = p[:remaining]
		}
		// Take what the app has already sent without waiting; only when
		// nothing is there does the client get what it has so far.
		n, rerr := -1, error(nil)
		switch {
		case !rh.chunked:
			n, rerr = c.tryRead(p)
		case br.Buffered() > 0:
			n, rerr = src.Read(p)
		}
		if n < 0 {
			if pending {
				cc.armWrite()
				if bw.Flush() != nil {
					return false, errClientGone
				}
				pending = false
			}
			c.beforeBlock()
			n, rerr = src.Read(p)
		}
		if n > 0 {
			if write(p[:n]) != nil {
				return false, errClientGone
			}
			pending = true
		}
		if rerr == io.EOF {
			complete := false
			switch {
			case rh.chunked:
				// Trailer fields are dropped (HTTP/1.1 clients rarely ask
				// for them); read through the final empty line.
				complete = skipTrailer(br)
			case remaining > 0 && int64(n) < remaining:
				return false, io.ErrUnexpectedEOF
			}
			if chunkOut {
				bw.WriteString("0\r\n\r\n")
			}
			return complete, nil
		}
		if rerr != nil {
			if c.w != nil && c.w.gone.Load() {
				return false, errClientGone
			}
			return false, rerr
		}
		if remaining > 0 {
			remaining -= int64(n)
		}
	}
	return true, nil
}

// tryRead reads from the app's connection without waiting: -1 when
// nothing is there (or on any error, which the blocking read that follows
// will report), 0 and io.EOF at the end.
func (c *uconn) tryRead(p []byte) (int, error) {
	n := -1
	err := c.rc.Read(func(fd uintptr) bool {
		if m, e := syscall.Read(int(fd), p); e == nil {
			n = m
		}
		return true // never wait here
	})
	switch {
	case err != nil || n < 0:
		return -1, nil
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// skipTrailer reads a chunked body's trailer section through its empty
// line; false when it is malformed or too long.
func skipTrailer(br *bufio.Reader) bool {
	for i := 0; i < 64; i++ {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return false
		}
		if len(line) == 1 || len(line) == 2 && line[0] == '\r' {
			return true
		}
	}
	return false
}

func isTokenChar(c byte) bool {
	if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// upstreamError answers a request the app did not answer: 503 with
// Retry-After when it is starting (start timeout) or overloaded (its socket
// backlog is full), 502 when it is absent or broken.
func (rt *Router) upstreamError(cc *clientConn, req *request, a *appState, err error, startTimeout bool) result {
	var de *errDial
	switch {
	case startTimeout && errors.Is(err, os.ErrDeadlineExceeded):
		rt.appLogf(a, "no response within the start timeout %s", rt.cfg.StartTimeout)
		return cc.simple(req, 503, "503 Service Unavailable: the app is starting\n", "5")
	case errors.As(err, &de) && errors.Is(err, syscall.EAGAIN):
		return cc.simple(req, 503, "503 Service Unavailable\n", "1")
	}
	rt.appLogf(a, "%v", err)
	return cc.simple(req, 502, "502 Bad Gateway\n", "")
}

// appLogf logs an app's upstream error, at most once per 10 s per app
// (with the number of errors not logged), so that a broken app under load
// cannot flood the journal.
func (rt *Router) appLogf(a *appState, format string, args ...any) {
	now := time.Now().UnixNano()
	last := a.errLoggedAt.Load()
	if now-last < int64(10*time.Second) || !a.errLoggedAt.CompareAndSwap(last, now) {
		a.errSuppressed.Add(1)
		return
	}
	msg := fmt.Sprintf(format, args...)
	if n := a.errSuppressed.Swap(0); n > 0 {
		msg += fmt.Sprintf(" (and %d more errors since the last message)", n)
	}
	rt.cfg.Logger.Warn(msg, "tenant", a.tenant.name, "app", a.name)
}

// tunnel completes an upgrade (WebSocket): after the 101 head it copies
// bytes both ways until the app closes, or the client closes and the app
// finishes. The tunnel counts as in flight for the app. The client
// connection ends with it.
func (rt *Router) tunnel(cc *clientConn, c *uconn) result {
	defer c.c.Close()
	if cc.bw.Flush() != nil {
		return result{status: 101, close: true}
	}
	cc.c.SetDeadline(time.Time{})
	c.c.SetDeadline(time.Time{})
	// An app that closes is done with the connection, so that ends the
	// tunnel (as nginx does); a client that half-closes may still receive.
	done := make(chan struct{})
	go func() {
		io.Copy(c.c, cc.br) // what the client already sent, then the rest
		c.c.CloseWrite()
		close(done)
	}()
	io.Copy(cc.c, c.br)
	cc.c.Close()
	c.c.Close()
	<-done
	return result{status: 101, close: true}
}
