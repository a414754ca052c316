package router

import (
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"github.com/ehecoatl/ehecoatl/router/wire"
)

// bodyPrefix is how much of a request body the router reads before the
// request takes one of its tenant's slots: all of a body up to this size,
// the first bodyPrefix bytes of a larger or chunked one (the rest streams
// to the app). A client that stalls while sending holds no slot then, and
// one that wants a slot must first send this much.
const bodyPrefix = 64 << 10

// bodyBufPools hold the buffers of bodyPrefix; three sizes, so that the
// many small form posts do not each pin 64 KiB of the buffered budget.
var bodyBufPools = [...]struct {
	size int
	pool sync.Pool
}{{size: 4 << 10}, {size: 16 << 10}, {size: bodyPrefix}}

func bodyBufClass(n int) int {
	for i := range bodyBufPools {
		if n <= bodyBufPools[i].size {
			return i
		}
	}
	return len(bodyBufPools) - 1
}

func getBodyBuf(class int) *[]byte {
	if b, ok := bodyBufPools[class].pool.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, bodyBufPools[class].size)
	return &b
}

// bufferBody reads the start of req's body (all of it when it is small)
// into a pooled buffer, under the body pace of bodyReader. ok is false
// when the request was answered (408 for a body too slow, 413, 400)
// or the client went away. Without budget left (MaxBufferedBodyBytes) the
// body is not buffered and streams later as it arrives.
func (cc *clientConn) bufferBody(req *request) (res result, ok bool) {
	rt := cc.rt
	if req.ContentLength == 0 || rt.cfg.MaxBufferedBodyBytes < 0 {
		return result{}, true
	}
	size := bodyPrefix
	if req.ContentLength > 0 && req.ContentLength < bodyPrefix {
		size = int(req.ContentLength)
	}
	class := bodyBufClass(size)
	cost := int64(bodyBufPools[class].size)
	if rt.buffered.Add(cost) > rt.cfg.MaxBufferedBodyBytes {
		rt.buffered.Add(-cost)
		return result{}, true
	}
	req.bodyBuf = getBodyBuf(class)
	if req.ExpectContinue {
		req.ExpectContinue = false // answered here, not again by exchange
		cc.armWrite()
		cc.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		if cc.bw.Flush() != nil {
			return result{status: statusClientGone, close: true}, false
		}
	}
	br := newBodyReader(cc, req.ContentLength)
	buf := (*req.bodyBuf)[:size]
	n, done := 0, false
	whole := req.ContentLength > 0 && req.ContentLength <= bodyPrefix
	for n < size {
		if !whole && n > 0 && cc.br.Buffered() == 0 && !cc.waitBody(br) {
			break // a pause: the client may be waiting for an answer
		}
		m, err := br.Read(buf[n:])
		n += m
		if err == io.EOF {
			done = true
			break
		}
		if err != nil {
			return rt.clientBodyError(cc, req, &clientBodyError{err}), false
		}
	}
	if req.ContentLength < 0 && rt.cfg.MaxBodyBytes > 0 && int64(n) > rt.cfg.MaxBodyBytes {
		return rt.clientBodyError(cc, req, errBodyTooLarge), false
	}
	req.body = buf[:n]
	switch {
	case req.ContentLength > 0 && br.remaining == 0:
		done = true
	case done:
		// A chunked body that ended within the prefix goes to the app
		// with a Content-Length, as nginx sends buffered bodies.
		req.ContentLength, req.HasContentLength = int64(n), true
	}
	req.bodyDone = done
	if !done {
		req.bodyRest = br
	}
	return result{}, true
}

// bodyPause: a body that is streamed (larger than bodyPrefix, or chunked)
// is forwarded before its prefix is complete when the client pauses this
// long, because it may be waiting for the app's answer before it sends
// more (a full-duplex stream). Such a request then holds a slot while its
// body arrives, which is why those requests have a cap of their own
// (tenantState.tryStream).
const bodyPause = 500 * time.Millisecond

// waitBody waits up to bodyPause for more of the body; false after a
// pause. A failure (the body late, the client gone) is left for the next
// read to report.
func (cc *clientConn) waitBody(br *bodyReader) bool {
	dl := time.Now().Add(bodyPause)
	if br.due.Before(dl) {
		return true
	}
	cc.c.SetReadDeadline(dl)
	br.rdl = time.Time{} // the next read re-arms the body's own deadline
	// A timed-out Peek leaves the bufio.Reader usable (the error is
	// returned once), unlike a timeout inside the chunked reader.
	_, err := cc.br.Peek(1)
	return err == nil || !errors.Is(err, os.ErrDeadlineExceeded)
}

// releaseBody gives req's body buffer back to its pool and the budget.
func (cc *clientConn) releaseBody(req *request) {
	if req.bodyBuf == nil {
		return
	}
	class := bodyBufClass(cap(*req.bodyBuf))
	cc.rt.buffered.Add(-int64(bodyBufPools[class].size))
	bodyBufPools[class].pool.Put(req.bodyBuf)
	req.bodyBuf, req.body, req.bodyRest = nil, nil, nil
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
		b.chunked = wire.NewChunkedReader(cc.br)
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
	b.cc.bodyIn.Add(int64(n))
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
		if err == io.EOF && !wire.SkipTrailer(br) {
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
