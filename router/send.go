// Sending a request body to the app.

package router

import (
	"bufio"
	"io"
	"sync/atomic"

	"github.com/ehecoatl/ehecoatl/router/wire"
)

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

// finish waits for the body once the response has been relayed and
// reports whether it reached the app whole. A body the client is still
// sending when the app has answered is abandoned: the app connection c is
// closed, stop makes the client side give up reading, and finish waits
// for the sender to end.
func (b *bodySender) finish(c *uconn, stop func()) bool {
	select {
	case err := <-b.done:
		return err == nil
	default:
	}
	if b.eof.Load() {
		// Only the final flush to the app is left.
		return <-b.done == nil
	}
	c.c.Close()
	stop()
	<-b.done
	return false
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
				wire.WriteChunk(bw, buf[:n])
			} else {
				bw.Write(buf[:n])
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
		wire.WriteLastChunk(bw)
	}
	return bw.Flush()
}
