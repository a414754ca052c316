package main

import (
	"strconv"

	"github.com/ehecoatl/ehecoatl/router/wire"
	"golang.org/x/sys/unix"
)

// client is one accepted connection and the exchange in progress on it.
// Requests are served one at a time, in order: a pipelined request waits
// in the read buffer until the answer before it is sent.
type client struct {
	l  *loop
	fd int
	ip string
	// in holds what was read, in[r:w] not yet parsed; 4 KiB, the router's
	// client read buffer. A head that does not fit is refused (431); the
	// router hands such a connection to its goroutine path instead.
	in   []byte
	r, w int
	// out is the answer being sent, out[off:] still to go.
	out []byte
	off int
	// readable: an input edge not yet read to a short read; blocked: the
	// last send found the socket full (EPOLLOUT watched).
	readable, blocked, outWatched bool
	closeAfter                    bool // close once out is sent
	closed                        bool

	req wire.Request
	// The exchange: the upstream, the request head for it (reqBuf, sent
	// so far), the response's framing and what is left of its body.
	up                 *upstream
	reqBuf             []byte
	sent               int
	idBuf              []byte
	isHead, reqClose   bool
	http10, replayable bool
	awaitHead          bool
	rh                 wire.Response
	left               int64
}

func (c *client) event(ev uint32) {
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.readable = true
	}
	if ev&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.blocked = false
	}
	c.drive()
}

// drive does what the connection's state allows until it must wait for
// an event: send the answer, advance the exchange, take the next request.
func (c *client) drive() {
	for !c.closed {
		if c.off < len(c.out) {
			if c.blocked {
				return
			}
			n, e := send(c.fd, c.out[c.off:])
			switch {
			case e == unix.EAGAIN:
				c.waitOut()
				return
			case e != 0:
				c.close()
				return
			}
			c.off += n
			if c.off < len(c.out) {
				c.waitOut() // a short write: the socket buffer is full
				return
			}
			c.out, c.off = c.out[:0], 0
		}
		if c.closeAfter {
			c.close()
			return
		}
		var progress bool
		if c.up != nil {
			progress = c.exchange()
		} else {
			progress = c.next()
		}
		if !progress {
			return
		}
	}
}

func (c *client) waitOut() {
	c.blocked = true
	if !c.outWatched {
		c.outWatched = true
		c.l.watchOut(c.fd)
	}
}

// next reads and starts the next request; false when it must wait for
// more input.
func (c *client) next() bool {
	for {
		// RFC 9112 §2.2: empty lines before a request line are ignored.
		for c.r < c.w && (c.in[c.r] == '\n' || c.in[c.r] == '\r' && c.r+1 < c.w && c.in[c.r+1] == '\n') {
			if c.in[c.r] == '\r' {
				c.r++
			}
			c.r++
		}
		if c.r == c.w {
			c.r, c.w = 0, 0
		}
		if end := wire.HeadEnd(c.in[c.r:c.w]); end > 0 {
			c.start(end)
			return true
		}
		if c.w-c.r == len(c.in) {
			c.simple(431, "Request Header Fields Too Large: request head too large\n", true)
			return true
		}
		if !c.readable {
			return false
		}
		if c.w == len(c.in) {
			c.w = copy(c.in, c.in[c.r:c.w])
			c.r = 0
		}
		room := len(c.in) - c.w
		n, e := recv(c.fd, c.in[c.w:])
		switch {
		case e == unix.EAGAIN:
			c.readable = false
			return false
		case e != 0 || n == 0:
			// The client closed or failed (with a partial head, too:
			// the router just closes then, as net/http does).
			c.close()
			return false
		}
		if n < room {
			c.readable = false
		}
		c.w += n
	}
}

// start parses the head at in[r:r+end] and answers it or sends it on.
func (c *client) start(end int) {
	// The one allocation per request, as in the router: the head as a
	// string, which every field of the parsed request slices.
	head := string(c.in[c.r : c.r+end])
	c.r += end
	req := &c.req
	if err := wire.ParseRequest(req, head); err != nil {
		re := err.(*wire.RequestError)
		c.simple(re.Status, statusText(re.Status)+": "+re.Msg+"\n", true)
		return
	}
	if req.ContentLength != 0 || req.Upgrade != "" {
		// Bodies and upgrades are the goroutine path's in the design
		// this proxy is the ceiling of; here they are refused.
		c.simple(501, "501 Not Implemented\n", true)
		return
	}
	path, ok := c.l.p.routes[normalizeHost(req.Host)]
	if !ok {
		c.simple(404, "404 Not Found\n", req.Close)
		return
	}
	c.isHead, c.reqClose, c.http10 = req.Method == "HEAD", req.Close, req.HTTP10
	c.replayable = req.Method == "GET" || req.Method == "HEAD" || req.Method == "OPTIONS" || req.Method == "TRACE"
	c.idBuf = strconv.AppendUint(append(append(c.idBuf[:0], idPrefix...), '-'), idSeq.Add(1), 16)
	c.reqBuf = c.reqBuf[:0]
	bw := c.l.writer(&c.reqBuf)
	wire.WriteRequestHead(bw, req, wire.Peer{IP: c.ip, RequestID: c.idBuf})
	bw.Flush()
	c.begin(path)
}

// begin starts the exchange on a pooled or new connection to path.
func (c *client) begin(path int) {
	u := c.l.getUpstream(path)
	if u == nil {
		c.simple(502, "502 Bad Gateway\n", c.reqClose)
		return
	}
	u.c, c.up, c.sent, c.awaitHead = c, u, 0, true
}

// exchange advances the exchange; false when it waits for the upstream.
// It runs only with out empty (drive sends first), so an answer's body
// is relayed one upstream buffer at a time, never faster than the client
// takes it.
func (c *client) exchange() bool {
	u := c.up
	if c.sent < len(c.reqBuf) {
		done, failed := u.sendReq(c)
		if failed {
			return c.upstreamFailed()
		}
		if !done {
			return false
		}
		// The answer cannot be there yet: wait for its edge, reading
		// nothing that would return EAGAIN.
	}
	if !u.readable {
		return false
	}
	if c.awaitHead && u.w-u.r == len(u.in) {
		return c.badGateway() // a response head larger than the buffer
	}
	if !u.fill() {
		return c.upstreamFailed()
	}
	if c.awaitHead {
		end := wire.HeadEnd(u.in[u.r:u.w])
		if end < 0 {
			return true // more to read (or wait for)
		}
		block := u.in[u.r : u.r+end]
		if err := wire.ScanResponse(&c.rh, block, c.isHead); err != nil {
			return c.badGateway()
		}
		if c.rh.Status < 200 {
			if c.rh.Status == 101 {
				return c.badGateway() // no upgrade was asked for
			}
			u.r += end // 100 Continue, 103 Early Hints: skipped, as the router does
			return true
		}
		if !c.rh.NoBody && c.rh.Length < 0 {
			// Chunked or close-delimited: not handled here (the
			// benchmark's backend sends a Content-Length).
			return c.badGateway()
		}
		bw := c.l.writer(&c.out)
		wire.WriteResponseHead(bw, block, &c.rh, c.reqClose, c.http10 && !c.reqClose, false)
		bw.Flush()
		u.r += end
		c.left = 0
		if !c.rh.NoBody {
			c.left = c.rh.Length
		}
		c.awaitHead = false
	}
	k := min(int64(u.w-u.r), c.left)
	c.out = append(c.out, u.in[u.r:u.r+int(k)]...)
	u.r += int(k)
	c.left -= k
	if c.left == 0 {
		c.up = nil
		if c.rh.Close {
			u.close()
		} else {
			u.put()
		}
		c.closeAfter = c.reqClose
	}
	return true
}

// upstreamFailed handles an upstream that closed or failed: before any
// answer on a pooled connection, a request that may be repeated is sent
// again on a new one (the app may have closed the idle connection), as
// the router does; else 502 before the head, and a closed client after
// it (its answer is cut short).
func (c *client) upstreamFailed() bool {
	u := c.up
	c.up = nil
	fresh := c.awaitHead && u.reused && u.r == u.w && c.replayable
	u.close()
	switch {
	case fresh:
		u = c.l.dial(u.path)
		if u == nil {
			c.simple(502, "502 Bad Gateway\n", c.reqClose)
			return true
		}
		u.c, c.up, c.sent = c, u, 0
	case c.awaitHead:
		c.simple(502, "502 Bad Gateway\n", c.reqClose)
	default:
		c.closeAfter = true
	}
	return true
}

// badGateway closes the upstream after an answer the proxy cannot relay.
func (c *client) badGateway() bool {
	c.up.close()
	c.up = nil
	c.simple(502, "502 Bad Gateway\n", c.reqClose)
	return true
}

// simple queues one of the router's own short answers, as the router
// writes them (router/server.go, writeSimple); closeConn closes the
// connection after it.
func (c *client) simple(code int, body string, closeConn bool) {
	c.out = append(c.out, "HTTP/1.1 "...)
	c.out = strconv.AppendInt(c.out, int64(code), 10)
	c.out = append(c.out, ' ')
	c.out = append(c.out, statusText(code)...)
	c.out = append(c.out, "\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nContent-Length: "...)
	c.out = strconv.AppendInt(c.out, int64(len(body)), 10)
	if closeConn {
		c.out = append(c.out, "\r\nConnection: close"...)
	}
	c.out = append(c.out, "\r\n\r\n"...)
	c.out = append(c.out, body...)
	c.closeAfter = c.closeAfter || closeConn
}

// close ends the connection and an exchange in progress (its upstream
// connection is closed: an answer may still be on its way).
func (c *client) close() {
	if c.closed {
		return
	}
	c.closed = true
	if c.up != nil {
		c.up.close()
		c.up = nil
	}
	c.l.drop(c.fd)
}
