package wire

import (
	"bufio"
	"io"
	"net/http/httputil"
	"strconv"
)

// NewChunkedReader decodes a chunked body from br, up to its last chunk;
// the trailer section that follows is left for SkipTrailer. It is
// net/http's decoder, so the router frames chunks exactly as Go's HTTP
// stack does.
func NewChunkedReader(br *bufio.Reader) io.Reader { return httputil.NewChunkedReader(br) }

// SkipTrailer reads a chunked body's trailer section through its empty
// line; false when it is malformed or too long. Trailer fields are
// dropped: the router forwards neither direction's trailers.
//
// Unlike a head, the trailer takes CRLF line ends only: net/http ends a
// chunked body only at a CRLF, so a bare LF there would end the body for
// the router and not for a Go proxy in front of it, which would take
// what follows (a second request) for trailer fields. For the same
// reason the section is held to net/http's 4 KiB.
func SkipTrailer(br *bufio.Reader) bool {
	total := 0
	for {
		line, err := br.ReadSlice('\n')
		total += len(line)
		if err != nil || total > maxTrailer || len(line) < 2 || line[len(line)-2] != '\r' {
			return false
		}
		if len(line) == 2 {
			return true
		}
		if _, _, ok := splitField(line[:len(line)-2]); !ok {
			return false
		}
	}
}

// maxTrailer is the trailer section net/http accepts, with its empty line.
const maxTrailer = 4096

// WriteChunk writes p as one chunk; an empty p writes nothing, since a
// zero-size chunk would end the body.
func WriteChunk(bw *bufio.Writer, p []byte) error {
	if len(p) == 0 {
		return nil
	}
	// The writer's own free space: a local array would escape through
	// Write and cost an allocation per chunk.
	bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(len(p)), 16))
	bw.WriteString("\r\n")
	bw.Write(p)
	_, err := bw.WriteString("\r\n")
	return err
}

// WriteLastChunk ends a chunked body (with no trailer).
func WriteLastChunk(bw *bufio.Writer) error {
	_, err := bw.WriteString("0\r\n\r\n")
	return err
}
