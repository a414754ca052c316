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
func SkipTrailer(br *bufio.Reader) bool {
	for i := 0; i < 64; i++ {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return false
		}
		if isEmptyLine(line) {
			return true
		}
	}
	return false
}

// WriteChunk writes p as one chunk; an empty p writes nothing, since a
// zero-size chunk would end the body.
func WriteChunk(bw *bufio.Writer, p []byte) error {
	if len(p) == 0 {
		return nil
	}
	var hb [20]byte
	bw.Write(strconv.AppendInt(hb[:0], int64(len(p)), 16))
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
