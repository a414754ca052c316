// Copying a response body from the app to the client.

package router

import (
	"io"
	"sync"

	"github.com/ehecoatl/ehecoatl/router/wire"
)

// copyBufPool holds the buffers bodies are copied through.
var copyBufPool = sync.Pool{New: func() any { return new([32 << 10]byte) }}

// bodySink is where relayBody writes a response body: the HTTP/1.1 client
// connection (h1Sink) or an HTTP/2 stream (*h2exchange). What differs
// between the two is how they write, flush and wait; the relay is one.
type bodySink interface {
	write(p []byte) error
	// flush sends what was written to the client.
	flush() error
	// chunked runs once before a chunked body is relayed: its reader may
	// block anywhere.
	chunked(c *uconn)
	// blocking runs before each read from the app that may wait.
	blocking(c *uconn)
	// slow: a read from the app reached its deadline; true when it may
	// wait on.
	slow(c *uconn, err error) bool
	// left: the client left, so an error from the app is errClientGone.
	left(c *uconn) bool
}

// relayBody relays a response body from the app to the client. Data the
// app has already sent is written as it is; before every read that would
// block, what was written is flushed to the client, so streams (SSE, long
// downloads) reach it as they are produced while a small response still
// leaves in a single write. complete: read to its end with the app
// connection reusable.
func relayBody(c *uconn, rh *respHead, s bodySink) (complete bool, err error) {
	if rh.NoBody {
		return true, nil
	}
	br := c.br
	pending := true // the head is not flushed yet
	var buf *[32 << 10]byte
	defer func() {
		if buf != nil {
			copyBufPool.Put(buf)
		}
	}()
	var src io.Reader = br
	remaining := rh.Length // -1: unknown
	if rh.Chunked {
		src = wire.NewChunkedReader(br)
		s.chunked(c)
	}
	for remaining != 0 {
		if !rh.Chunked && br.Buffered() > 0 {
			// Write straight from the read buffer.
			n := br.Buffered()
			if remaining > 0 && int64(n) > remaining {
				n = int(remaining)
			}
			b, _ := br.Peek(n)
			if s.write(b) != nil {
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
		case !rh.Chunked:
			n, rerr = c.tryRead(p)
		case br.Buffered() > 0:
			n, rerr = src.Read(p)
		}
		if n < 0 {
			if pending {
				if s.flush() != nil {
					return false, errClientGone
				}
				pending = false
			}
			s.blocking(c)
			n, rerr = src.Read(p)
			if n == 0 && rerr != nil && !rh.Chunked && s.slow(c, rerr) {
				continue
			}
		}
		if n > 0 {
			if s.write(p[:n]) != nil {
				return false, errClientGone
			}
			pending = true
		}
		if rerr == io.EOF {
			switch {
			case rh.Chunked:
				// Trailer fields are dropped (HTTP/1.1 clients rarely ask
				// for them); read through the final empty line.
				return wire.SkipTrailer(br), nil
			case remaining > 0 && int64(n) < remaining:
				return false, io.ErrUnexpectedEOF
			}
			return false, nil
		}
		if rerr != nil {
			if s.left(c) {
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

// copyBody relays a response body to the HTTP/1.1 client; chunkOut
// chunk-encodes a body of unknown length.
func copyBody(cc *clientConn, c *uconn, rh *respHead, chunkOut bool) (complete bool, err error) {
	cc.sink = h1Sink{cc: cc, chunkOut: chunkOut}
	complete, err = relayBody(c, rh, &cc.sink)
	if err == nil && chunkOut {
		wire.WriteLastChunk(cc.bw)
	}
	return complete, err
}

// h1Sink is the HTTP/1.1 client as a bodySink. The client connection
// holds it, so that handing it to relayBody allocates nothing.
type h1Sink struct {
	cc       *clientConn
	chunkOut bool
}

var (
	_ bodySink = (*h1Sink)(nil)
	_ bodySink = (*h2exchange)(nil)
)

func (s *h1Sink) write(p []byte) error {
	if s.chunkOut {
		return wire.WriteChunk(s.cc.bw, p)
	}
	_, err := s.cc.bw.Write(p)
	return err
}

func (s *h1Sink) flush() error {
	s.cc.armWrite()
	return s.cc.bw.Flush()
}

// Waiting for the app arms the client watch (uconn.go), at once for a
// chunked body.
func (s *h1Sink) chunked(c *uconn)        { c.beforeBlock() }
func (s *h1Sink) blocking(c *uconn)       { c.beforeBlock() }
func (s *h1Sink) slow(*uconn, error) bool { return false }
func (s *h1Sink) left(c *uconn) bool      { return c.w != nil && c.w.gone.Load() }
