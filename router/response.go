// Waiting for and reading the app's response head (wire.ScanResponse
// parses it).

package router

import (
	"errors"
	"io"
	"os"

	"github.com/ehecoatl/ehecoatl/router/wire"
)

// respHead is a response head as wire.ScanResponse read it, and how
// reading and relaying it went.
type respHead struct {
	wire.Response
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
			if end := wire.HeadEnd(b); end > 0 {
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
		// The Connection-listed names are kept in c, so that their slice
		// is reused from one exchange to the next.
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
	}
}
