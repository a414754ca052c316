package router

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
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
// before the response is read, on the handler's goroutine (they fit the
// socket buffer). Larger and chunked bodies are sent from a goroutine while
// the response is read, so an app may answer (or stream) before it has
// consumed the whole body.
const inlineBody = 64 << 10

var (
	errBodyTooLarge  = errors.New("request body too large")
	errBadResponse   = errors.New("malformed response from app")
	errHeaderTooBig  = errors.New("response header from app too large")
	aLongTimeAgo     = time.Unix(1, 0)
	statusClientGone = 499 // logged when the client left before the response
)

// result of one forward, for the access log and the handler.
type result struct {
	status int
	// abort: the response was started and could not be completed; the
	// handler panics with http.ErrAbortHandler so the client connection is
	// closed rather than ending a truncated body as if it were complete.
	abort bool
}

// forward sends r to one worker of a and copies the response to w.
func (rt *Router) forward(w http.ResponseWriter, r *http.Request, a *appState, upgrade bool) result {
	up := a.pick()
	up.active.Add(1)
	defer up.active.Add(-1)

	ctx := r.Context()
	hasBody := r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody
	replayable := !hasBody && !upgrade && (r.Method == "GET" || r.Method == "HEAD" || r.Method == "OPTIONS" || r.Method == "TRACE")

	c, err := up.get(ctx)
	if err != nil {
		return rt.upstreamError(w, r, a, err, false)
	}
	for attempt := 0; ; attempt++ {
		res, retry := rt.exchange(w, r, a, c, hasBody, upgrade)
		if !retry {
			return res
		}
		if !replayable || attempt > 0 {
			return rt.upstreamError(w, r, a, errBadResponse, false)
		}
		// A pooled connection the app had closed: the request was not
		// processed, send it again on a fresh connection.
		if c, err = up.dial(ctx); err != nil {
			return rt.upstreamError(w, r, a, err, false)
		}
	}
}

// exchange runs one request/response on c. retry is true when c was a
// pooled connection that failed before anything was read from it.
func (rt *Router) exchange(w http.ResponseWriter, r *http.Request, a *appState, c *uconn, hasBody, upgrade bool) (res result, retry bool) {
	ctx := r.Context()
	fresh := !c.reused
	c.ctx, c.stop, c.startDeadline = ctx, nil, time.Time{}
	now := time.Now()
	deadline := now.Add(watchAfter)
	if fresh && rt.cfg.StartTimeout > 0 {
		c.startDeadline = now.Add(rt.cfg.StartTimeout)
		if c.startDeadline.Before(deadline) {
			deadline = c.startDeadline
		}
	}
	c.c.SetReadDeadline(deadline)
	writeRequestHead(c.bw, r, upgrade)

	var body *bodySender
	var werr error
	switch {
	case !hasBody:
		werr = c.bw.Flush()
	case r.ContentLength > 0 && r.ContentLength <= inlineBody:
		werr = sendBody(c.bw, r.Body, false, r.ContentLength, nil)
		if isClientBodyError(werr) {
			c.disarm()
			c.c.Close()
			return rt.clientBodyError(w, r, werr), false
		}
	default:
		if err := c.beforeBlock(); err != nil {
			c.disarm()
			c.c.Close()
			return result{status: statusClientGone}, false
		}
		http.NewResponseController(w).EnableFullDuplex()
		body = startBody(c, r, rt.cfg.MaxBodyBytes)
	}
	if werr != nil && !hasBody {
		c.disarm()
		c.c.Close()
		if c.reused {
			return result{}, true
		}
		return rt.upstreamError(w, r, a, werr, false), false
	}
	// With a failed body write, still read: the app may have answered early.

	h := w.Header()
	rh, err := readResponseHead(c, h, r.Method == "HEAD")
	if err != nil {
		gone := c.disarm()
		c.c.Close()
		if body != nil {
			if berr := <-body.done; isClientBodyError(berr) {
				clear(h)
				return rt.clientBodyError(w, r, berr), false
			}
		}
		if (gone || errors.Is(err, context.Canceled)) && ctx.Err() != nil {
			return result{status: statusClientGone}, false
		}
		if c.reused && rh.nothingRead && !hasBody {
			return result{}, true
		}
		clear(h)
		return rt.upstreamError(w, r, a, err, fresh && rh.nothingRead), false
	}

	if rh.status == http.StatusSwitchingProtocols {
		if c.disarm() || !upgrade {
			c.c.Close()
			clear(h)
			if ctx.Err() != nil {
				return result{status: statusClientGone}, false
			}
			return rt.upstreamError(w, r, a, errBadResponse, false), false
		}
		return rt.tunnel(w, r, a, c, rh), false
	}

	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil // no content sniffing: pass the app's answer as it is
	}
	w.WriteHeader(rh.status)
	complete, cerr := copyResponseBody(w, c, rh)
	reusable := complete && !rh.close && !upgrade
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
				// stop reading it (the client connection is closed after
				// this response, as net/http does) and drop the upstream.
				reusable = false
				c.c.Close()
				http.NewResponseController(w).SetReadDeadline(aLongTimeAgo)
				<-body.done
			}
		}
	}
	if c.disarm() || !reusable {
		c.c.Close()
	} else {
		c.ctx = nil
		c.up.put(c)
	}
	if cerr != nil {
		if ctx.Err() == nil {
			rt.logf("%s: %s: response body: %v", a.key, c.up.path, cerr)
		}
		return result{status: rh.status, abort: true}, false
	}
	return result{status: rh.status}, false
}

// watchAfter: a response that keeps the router waiting longer than this
// arms a watch that aborts the upstream I/O when the client goes away.
// Fast responses (nearly all) never pay for the watch: they are read
// under a read deadline that merely wakes the router after watchAfter.
const watchAfter = 100 * time.Millisecond

// beforeBlock is called before a read from the app that may block for
// long: it arms the client watch once and replaces the short deadline by
// the start deadline (fresh connection before the first byte) or none.
func (c *uconn) beforeBlock() error {
	if c.stop != nil {
		return nil
	}
	c.stop = context.AfterFunc(c.ctx, c.abort)
	c.c.SetReadDeadline(c.startDeadline)
	// Checked after setting the deadline: a cancellation before this point
	// is seen here, one after it runs abort after the deadline was set.
	return c.ctx.Err()
}

// arrived is called once the first byte of the response is in: the start
// deadline no longer applies.
func (c *uconn) arrived() error {
	if c.startDeadline.IsZero() {
		return nil
	}
	c.startDeadline = time.Time{}
	if c.stop == nil {
		return nil // the short deadline is still in force
	}
	c.c.SetReadDeadline(time.Time{})
	return c.ctx.Err()
}

// abort poisons the connection's deadlines (the client went away).
func (c *uconn) abort() { c.c.SetDeadline(aLongTimeAgo) }

// disarm removes the watch; true when it fired, so the connection's
// deadlines are poisoned and it must be closed.
func (c *uconn) disarm() bool {
	if c.stop == nil {
		return false
	}
	fired := !c.stop()
	c.stop = nil
	return fired
}

// bodySender streams a request body to the app while the response is read.
type bodySender struct {
	done chan error
	// eof: the whole body was read from the client.
	eof atomic.Bool
}

func startBody(c *uconn, r *http.Request, limit int64) *bodySender {
	b := &bodySender{done: make(chan error, 1)}
	chunked := r.ContentLength < 0
	go func() {
		err := sendBody(c.bw, r.Body, chunked, limit, &b.eof)
		if isClientBodyError(err) {
			c.c.Close() // unblock the response read
		}
		b.done <- err
	}()
	return b
}

// writeRequestHead writes the request line and headers for the app: the
// client's headers minus hop-by-hop ones, the original Host, the
// X-Forwarded-* set and the body framing.
func writeRequestHead(bw *bufio.Writer, r *http.Request, upgrade bool) {
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	uri := r.RequestURI
	if uri == "" || (uri[0] != '/' && uri != "*") {
		uri = r.URL.RequestURI() // absolute-form request
	}
	bw.WriteString(uri)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(r.Host)
	bw.WriteString("\r\n")

	var connTokens []string
	if cv := r.Header["Connection"]; len(cv) > 0 {
		connTokens = connectionTokens(cv)
	}
	for k, vv := range r.Header {
		if skipRequestHeader(k) || (connTokens != nil && listed(connTokens, k)) {
			continue
		}
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}

	bw.WriteString("X-Forwarded-For: ")
	for _, v := range r.Header["X-Forwarded-For"] {
		bw.WriteString(v)
		bw.WriteString(", ")
	}
	bw.WriteString(clientIP(r.RemoteAddr))
	if r.TLS != nil {
		bw.WriteString("\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: ")
	} else {
		bw.WriteString("\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: ")
	}
	bw.WriteString(r.Host)
	bw.WriteString("\r\n")

	switch {
	case upgrade:
		bw.WriteString("Connection: Upgrade\r\nUpgrade: ")
		bw.WriteString(r.Header.Get("Upgrade"))
		bw.WriteString("\r\n")
	}
	switch {
	case r.ContentLength > 0:
		bw.WriteString("Content-Length: ")
		var nb [20]byte
		bw.Write(strconv.AppendInt(nb[:0], r.ContentLength, 10))
		bw.WriteString("\r\n")
	case r.ContentLength < 0:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	case r.Header["Content-Length"] != nil:
		bw.WriteString("Content-Length: 0\r\n")
	}
	bw.WriteString("\r\n")
}

// skipRequestHeader: headers that are hop-by-hop (RFC 9110 §7.6.1) or that
// the router writes itself.
func skipRequestHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Host", "Content-Length", "Expect",
		"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host":
		return true
	}
	return false
}

// connectionTokens returns the canonical header names a Connection header
// lists (they are hop-by-hop too).
func connectionTokens(vv []string) []string {
	var t []string
	for _, v := range vv {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				t = append(t, http.CanonicalHeaderKey(f))
			}
		}
	}
	if t == nil {
		t = []string{}
	}
	return t
}

func listed(tokens []string, k string) bool {
	for _, t := range tokens {
		if t == k {
			return true
		}
	}
	return false
}

// clientIP is the address part of RemoteAddr, without allocation.
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
			var mbe *http.MaxBytesError
			if errors.As(rerr, &mbe) {
				return errBodyTooLarge
			}
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
// over the size limit, 400 otherwise (nothing when the client is gone).
func (rt *Router) clientBodyError(w http.ResponseWriter, r *http.Request, err error) result {
	if err == errBodyTooLarge {
		return rt.errorResponse(w, http.StatusRequestEntityTooLarge, "413 Request Entity Too Large\n", "")
	}
	if r.Context().Err() != nil {
		return result{status: statusClientGone}
	}
	return rt.errorResponse(w, http.StatusBadRequest, "400 Bad Request\n", "")
}

// respHead is what the router needs to know about a response's framing.
type respHead struct {
	status int
	// length of the body, -1 when unknown (chunked or until close).
	length  int64
	chunked bool
	// noBody: HEAD, 1xx, 204, 304.
	noBody bool
	// close: the app will close the connection after this response.
	close bool
	// upgrade is the Upgrade header of a 101 response.
	upgrade string
	// nothingRead: the read failed before the first byte arrived.
	nothingRead bool
}

// readResponseHead reads a response head from c into h, skipping interim
// 1xx responses. The whole head is copied into one string that every key
// and value slices, so a response costs one allocation for its strings
// and one for its value slices.
func readResponseHead(c *uconn, h http.Header, head bool) (rh respHead, err error) {
	br := c.br
	for {
		if _, err = br.Peek(1); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) || c.stop != nil {
				rh.nothingRead = true
				return rh, err
			}
			// No answer within watchAfter: wait on, watching the client.
			if err = c.beforeBlock(); err != nil {
				rh.nothingRead = true
				return rh, err
			}
			continue
		}
		break
	}
	if err = c.arrived(); err != nil {
		return rh, err
	}
	for {
		var block []byte
		for {
			b, _ := br.Peek(br.Buffered())
			if end := headEnd(b); end > 0 {
				block = b[:end]
				break
			}
			if len(b) >= br.Size() {
				return rh, errHeaderTooBig
			}
			if err = c.beforeBlock(); err != nil {
				return rh, err
			}
			if _, err = br.Peek(len(b) + 1); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return rh, err
			}
		}
		s := string(block)
		br.Discard(len(block))
		rh, err = parseHead(s, h, head)
		if err != nil {
			return rh, err
		}
		if rh.status >= 200 || rh.status == http.StatusSwitchingProtocols {
			return rh, nil
		}
		clear(h) // interim response (100 Continue, 103 Early Hints): skip
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

// parseHead parses a complete response head.
func parseHead(s string, h http.Header, head bool) (rh respHead, err error) {
	line, rest := cutLine(s)
	// HTTP/1.x SSS reason
	if len(line) < 12 || !strings.HasPrefix(line, "HTTP/1.") || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return rh, errBadResponse
	}
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return rh, errBadResponse
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 {
		return rh, errBadResponse
	}
	rh.status = code
	rh.length = -1
	http10 := line[7] == '0'
	keepAlive := false
	// One backing array for every value slice of this response.
	vals := make([]string, 0, strings.Count(rest, "\n"))
	var connTokens []string
	var cl string
	for {
		line, rest = cutLine(rest)
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return rh, errBadResponse // obsolete line folding
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 {
			return rh, errBadResponse
		}
		k := canonicalKey(line[:colon])
		if k == "" {
			return rh, errBadResponse
		}
		v := strings.Trim(line[colon+1:], " \t")
		switch k {
		case "Connection":
			for f := range strings.SplitSeq(v, ",") {
				f = strings.TrimSpace(f)
				switch {
				case strings.EqualFold(f, "close"):
					rh.close = true
				case strings.EqualFold(f, "keep-alive"):
					keepAlive = true
				case strings.EqualFold(f, "upgrade"):
				case f != "":
					connTokens = append(connTokens, http.CanonicalHeaderKey(f))
				}
			}
			continue
		case "Transfer-Encoding":
			// Any transfer coding makes the length unknown; only chunked
			// (last) is decodable.
			if !strings.EqualFold(strings.TrimSpace(v[strings.LastIndexByte(v, ',')+1:]), "chunked") {
				rh.close = true
			} else {
				rh.chunked = true
			}
			continue
		case "Upgrade":
			rh.upgrade = v
			continue
		case "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Proxy-Authenticate":
			continue
		case "Content-Length":
			if cl != "" && cl != v {
				return rh, errBadResponse
			}
			cl = v
			if len(h["Content-Length"]) > 0 {
				continue
			}
		}
		vals = append(vals, v)
		if old := h[k]; old != nil {
			h[k] = append(old, v)
		} else {
			h[k] = vals[len(vals)-1 : len(vals) : len(vals)]
		}
	}
	for _, t := range connTokens {
		delete(h, t)
	}
	if http10 && !keepAlive {
		rh.close = true
	}
	if rh.chunked {
		delete(h, "Content-Length") // RFC 9112 §6.3: Transfer-Encoding wins
	} else if cl != "" {
		n, perr := strconv.ParseInt(cl, 10, 64)
		if perr != nil || n < 0 {
			return rh, errBadResponse
		}
		rh.length = n
	}
	if head || code < 200 || code == 204 || code == 304 {
		rh.noBody = true
		rh.chunked = false
		rh.length = 0
	} else if !rh.chunked && rh.length < 0 {
		rh.close = true // body until close
	}
	return rh, nil
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

// commonKeys interns the canonical form of header names that apps often
// send in lower case (Node, Python), so that they cost no allocation.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"Content-Type", "Content-Length", "Date", "Server", "Connection",
		"Transfer-Encoding", "Cache-Control", "Etag", "Last-Modified", "Location", "Set-Cookie",
		"Vary", "Content-Encoding", "Keep-Alive", "Expires", "Access-Control-Allow-Origin",
		"X-Powered-By", "Content-Security-Policy", "Strict-Transport-Security", "Upgrade",
		"Sec-Websocket-Accept", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy",
		"Accept-Ranges", "Age", "Pragma"} {
		m[k] = k
		m[strings.ToLower(k)] = k
	}
	return m
}()

// canonicalKey returns the canonical header name, "" for an invalid one.
func canonicalKey(k string) string {
	if c, ok := commonKeys[k]; ok {
		return c
	}
	for i := 0; i < len(k); i++ {
		if !isTokenChar(k[i]) {
			return ""
		}
	}
	return http.CanonicalHeaderKey(k)
}

func isTokenChar(c byte) bool {
	if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// copyResponseBody copies the body of a response to w. Data the app has
// already sent is written as it is; before every read that would block,
// what was written is flushed to the client, so streams (SSE, long
// downloads) reach it as they are produced while a small response still
// leaves in a single write. complete reports that the body was read to
// its end with the connection still in a state to be reused.
func copyResponseBody(w http.ResponseWriter, c *uconn, rh respHead) (complete bool, err error) {
	if rh.noBody {
		return true, nil
	}
	br := c.br
	fl, _ := w.(http.Flusher)
	pending := true // the header is not flushed yet
	flush := func() {
		if pending && fl != nil {
			fl.Flush()
		}
		pending = false
	}
	var buf *[32 << 10]byte
	defer func() {
		if buf != nil {
			copyBufPool.Put(buf)
		}
	}()
	var src io.Reader = br
	remaining := rh.length // -1: unknown
	if rh.chunked {
		src = httputil.NewChunkedReader(br)
		// The chunked reader may block anywhere: watch from the start.
		if err := c.beforeBlock(); err != nil {
			return false, err
		}
	}
	for remaining != 0 {
		if br.Buffered() == 0 {
			flush()
			if err := c.beforeBlock(); err != nil {
				return false, err
			}
		}
		var n int
		if !rh.chunked && br.Buffered() > 0 {
			// Write straight from the read buffer.
			n = br.Buffered()
			if remaining > 0 && int64(n) > remaining {
				n = int(remaining)
			}
			b, _ := br.Peek(n)
			if _, werr := w.Write(b); werr != nil {
				return false, werr
			}
			br.Discard(n)
		} else {
			if buf == nil {
				buf = copyBufPool.Get().(*[32 << 10]byte)
			}
			p := buf[:]
			if remaining > 0 && int64(len(p)) > remaining {
				p = p[:remaining]
			}
			var rerr error
			n, rerr = src.Read(p)
			if n > 0 {
				if _, werr := w.Write(p[:n]); werr != nil {
					return false, werr
				}
			}
			if rerr == io.EOF {
				if rh.chunked {
					// Trailer fields are dropped (HTTP/1.1 clients rarely
					// ask for them); read through the final empty line.
					return skipTrailer(br), nil
				}
				if remaining < 0 {
					return false, nil // body until close: complete, not reusable
				}
				return false, io.ErrUnexpectedEOF
			}
			if rerr != nil {
				return false, rerr
			}
		}
		pending = true
		if remaining > 0 {
			remaining -= int64(n)
		}
	}
	return true, nil
}

func skipTrailer(br *bufio.Reader) bool {
	for i := 0; i < 100; i++ {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return false
		}
		if len(line) <= 2 && (len(line) == 1 || line[0] == '\r') {
			return true
		}
	}
	return false
}

// upstreamError answers a request the app did not answer: 503 with
// Retry-After when it is starting (start timeout) or overloaded (its socket
// backlog is full), 502 when it is absent or broken.
func (rt *Router) upstreamError(w http.ResponseWriter, r *http.Request, a *appState, err error, startTimeout bool) result {
	if r.Context().Err() != nil {
		return result{status: statusClientGone}
	}
	var de *errDial
	switch {
	case startTimeout && errors.Is(err, os.ErrDeadlineExceeded):
		rt.logf("%s: no response within the start timeout %s", a.key, rt.cfg.StartTimeout)
		return rt.errorResponse(w, http.StatusServiceUnavailable, "503 Service Unavailable: the app is starting\n", "5")
	case errors.As(err, &de) && errors.Is(err, syscall.EAGAIN):
		return rt.errorResponse(w, http.StatusServiceUnavailable, "503 Service Unavailable\n", "1")
	}
	rt.logf("%s: %v", a.key, err)
	return rt.errorResponse(w, http.StatusBadGateway, "502 Bad Gateway\n", "")
}

// errorResponse writes one of the router's own short, neutral answers.
func (rt *Router) errorResponse(w http.ResponseWriter, code int, body, retryAfter string) result {
	h := w.Header()
	h["Content-Type"] = textPlain
	h["X-Content-Type-Options"] = nosniff
	if retryAfter != "" {
		h["Retry-After"] = []string{retryAfter}
	}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(code)
	io.WriteString(w, body)
	return result{status: code}
}

var (
	textPlain = []string{"text/plain; charset=utf-8"}
	nosniff   = []string{"nosniff"}
)

// tunnel completes an upgrade (WebSocket): it takes over the client
// connection, relays the 101 response and then copies bytes both ways
// until both sides are done. The tunnel counts as in flight for the app.
func (rt *Router) tunnel(w http.ResponseWriter, r *http.Request, a *appState, c *uconn, rh respHead) result {
	cc, cbrw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		c.c.Close()
		rt.logf("%s: upgrade: %v", a.key, err)
		return rt.errorResponse(w, http.StatusInternalServerError, "500 Internal Server Error\n", "")
	}
	defer cc.Close()
	defer c.c.Close()
	rt.trackTunnel(cc, true)
	defer rt.trackTunnel(cc, false)
	cc.SetDeadline(time.Time{})
	c.c.SetDeadline(time.Time{}) // the watch is disarmed; no short deadline either

	bw := cbrw.Writer
	bw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	for k, vv := range w.Header() {
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	bw.WriteString("Connection: Upgrade\r\nUpgrade: ")
	bw.WriteString(rh.upgrade)
	bw.WriteString("\r\n\r\n")
	if n := c.br.Buffered(); n > 0 {
		b, _ := c.br.Peek(n)
		bw.Write(b)
	}
	if err := bw.Flush(); err != nil {
		return result{status: http.StatusSwitchingProtocols}
	}
	if n := cbrw.Reader.Buffered(); n > 0 {
		b, _ := cbrw.Reader.Peek(n)
		if _, err := c.c.Write(b); err != nil {
			return result{status: http.StatusSwitchingProtocols}
		}
	}
	// A client that half-closes may still receive; an app that closes is
	// done with the connection, so that ends the tunnel (as nginx does)
	// instead of leaving it open until the client notices.
	done := make(chan struct{})
	go func() {
		io.Copy(c.c, cc)
		c.c.CloseWrite()
		close(done)
	}()
	io.Copy(cc, c.c)
	cc.Close()
	c.c.Close()
	<-done
	return result{status: http.StatusSwitchingProtocols}
}

// trackTunnel records open tunnels so that shutdown can close them.
func (rt *Router) trackTunnel(c net.Conn, add bool) {
	rt.tunnelsMu.Lock()
	defer rt.tunnelsMu.Unlock()
	if add {
		rt.tunnels[c] = struct{}{}
	} else {
		delete(rt.tunnels, c)
	}
}
