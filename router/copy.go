// Copying a response body from the app to the client.

package router

import (
	"io"
	"sync"

	"github.com/ehecoatl/ehecoatl/router/wire"
)

// copyBufPool holds the buffers bodies are copied through.
var copyBufPool = sync.Pool{New: func() any { return new([32 << 10]byte) }}

// copyBody relays a response body from the app to the client. Data the
// app has already sent is written as it is; before every read that would
// block, what was written is flushed to the client, so streams (SSE, long
// downloads) reach it as they are produced while a small response still
// leaves in a single write. chunkOut chunk-encodes a body of unknown
// length. complete: read to its end with the app connection reusable.
func copyBody(cc *clientConn, c *uconn, rh *respHead, chunkOut bool) (complete bool, err error) {
	if rh.NoBody {
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
			return wire.WriteChunk(bw, p)
		}
		_, err := bw.Write(p)
		return err
	}
	var src io.Reader = br
	remaining := rh.Length // -1: unknown
	if rh.Chunked {
		src = wire.NewChunkedReader(br)
		// The chunked reader may block anywhere: watch from the start.
		c.beforeBlock()
	}
	for remaining != 0 {
		if !rh.Chunked && br.Buffered() > 0 {
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
		case !rh.Chunked:
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
			case rh.Chunked:
				// Trailer fields are dropped (HTTP/1.1 clients rarely ask
				// for them); read through the final empty line.
				complete = wire.SkipTrailer(br)
			case remaining > 0 && int64(n) < remaining:
				return false, io.ErrUnexpectedEOF
			}
			if chunkOut {
				wire.WriteLastChunk(bw)
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
