package wire

import (
	"bufio"
	"errors"
)

// ErrBadResponse is a response head that is not well-formed HTTP/1.x.
var ErrBadResponse = errors.New("malformed response from app")

// Response is what the router needs to know about a response's framing.
type Response struct {
	// Status is the status code (100-999).
	Status int
	// Length of the body, -1 when unknown (chunked or until close).
	Length  int64
	Chunked bool
	// NoBody: a response to HEAD, 1xx, 204, 304.
	NoBody bool
	// Close: the app closes the connection after this response.
	Close bool
	// Listed are the field names the Connection field listed (RFC 9110
	// §7.6.1); they slice the scanned head and are valid as long as it.
	Listed [][]byte
	// Extra are complete field lines ("Name: value\r\n") the router adds
	// to the client's head after the app's fields (Strict-Transport-
	// Security); ScanResponse clears it.
	Extra string
}

// ScanResponse validates a complete response head b (as HeadEnd delimits
// it) and works out its framing; head: the request was HEAD. rh.Listed is
// reused. Any error is ErrBadResponse.
func ScanResponse(rh *Response, b []byte, head bool) error {
	*rh = Response{Listed: rh.Listed[:0]}
	line, rest := cutLine(b)
	// HTTP/1.x SSS reason
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || !isDigit(line[7]) || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return ErrBadResponse
	}
	code := 0
	for _, d := range line[9:12] {
		if !isDigit(d) {
			return ErrBadResponse
		}
		code = code*10 + int(d-'0')
	}
	// A control character in the reason would be copied to the client,
	// where a bare CR may end the line (RFC 9112 §4: VCHAR, SP, HTAB).
	if code < 100 || !validValue(line[min(len(line), 13):]) {
		return ErrBadResponse
	}
	rh.Status, rh.Length = code, -1
	http10 := line[7] == '0'
	keepAlive := false
	haveCL, teSeen := false, false
	for {
		line, rest = cutLine(rest)
		if len(line) == 0 {
			break
		}
		name, v, ok := splitField(line)
		if !ok {
			return ErrBadResponse
		}
		switch fieldKind(name) {
		case kConnection:
			for len(v) > 0 {
				var f []byte
				if i := indexByte(v, ','); i >= 0 {
					f, v = v[:i], v[i+1:]
				} else {
					f, v = v, nil
				}
				f = trimOWS(f)
				switch {
				case eqFold(f, "close"):
					rh.Close = true
				case eqFold(f, "keep-alive"):
					keepAlive = true
				case eqFold(f, "upgrade"):
				case len(f) > 0:
					rh.Listed = append(rh.Listed, f)
				}
			}
		case kTransferEncoding:
			// Two lines form one list whose last coding decides; reading
			// each alone took "chunked" then "gzip" for chunked. net/http
			// refuses a second line, and so does the codec.
			if teSeen {
				return ErrBadResponse
			}
			teSeen = true
			// Any transfer coding makes the length unknown; only chunked
			// (last) is decodable (RFC 9112 §6.3).
			last := v[lastIndexByte(v, ',')+1:]
			if eqFold(trimOWS(last), "chunked") {
				rh.Chunked = true
			} else {
				rh.Close = true
			}
		case kContentLength:
			n, ok := parseContentLength(v)
			if !ok || haveCL && n != rh.Length {
				return ErrBadResponse
			}
			rh.Length, haveCL = n, true
		}
	}
	// RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 is faulty framing
	// (net/http ignores it and reads until close; the codec decoded it:
	// one body, two lengths). Refused, as in requests.
	if http10 && teSeen {
		return ErrBadResponse
	}
	if http10 && !keepAlive {
		rh.Close = true
	}
	if rh.Chunked {
		rh.Length = -1 // RFC 9112 §6.3: Transfer-Encoding wins
	}
	if head || code < 200 || code == 204 || code == 304 {
		rh.NoBody = true
		rh.Chunked = false
		if !haveCL {
			rh.Length = 0
		}
	} else if !rh.Chunked && rh.Length < 0 {
		rh.Close = true // body until close
	}
	return nil
}

func lastIndexByte(b []byte, c byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// WriteResponseHead writes the client-facing head for a head b that
// ScanResponse accepted as rh: the app's status and end-to-end fields,
// then the router's own framing and connection fields. closeConn writes
// "Connection: close", keepAlive10 "Connection: keep-alive" (for an
// HTTP/1.0 client), chunkOut announces a chunked body (WriteChunk).
// clPassed reports whether a Content-Length line was written.
func WriteResponseHead(bw *bufio.Writer, b []byte, rh *Response, closeConn, keepAlive10, chunkOut bool) (clPassed bool) {
	line, rest := cutLine(b)
	bw.WriteString("HTTP/1.1 ")
	bw.Write(line[9:])
	bw.WriteString("\r\n")
	for {
		line, rest = cutLine(rest)
		if len(line) == 0 {
			break
		}
		colon := indexByte(line, ':')
		name := line[:colon]
		if !passes(name, rh, &clPassed) {
			continue
		}
		bw.Write(name)
		bw.WriteString(": ")
		bw.Write(trimOWS(line[colon+1:]))
		bw.WriteString("\r\n")
	}
	bw.WriteString(rh.Extra)
	switch {
	case rh.Status == 101:
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
	return clPassed
}

// passes reports whether the client gets a response field named name:
// hop-by-hop and connection fields, those the Connection field listed,
// Upgrade but in a 101, and Content-Length of a chunked body or after the
// first are the router's business. clPassed: a Content-Length was passed.
func passes(name []byte, rh *Response, clPassed *bool) bool {
	switch fieldKind(name) {
	case kContentLength:
		if rh.Chunked || *clPassed {
			return false
		}
		*clPassed = true
	case kUpgrade:
		return rh.Status == 101
	case kConnection, kTransferEncoding, kHop:
		return false
	default:
		return !listed(rh.Listed, name)
	}
	return true
}

// EndToEnd calls f, in order, with each field of a head b that
// ScanResponse accepted as rh which the client gets: the fields
// WriteResponseHead passes on, values trimmed. For a client that is not
// HTTP/1.1 (an HTTP/2 stream), which frames the response itself.
func EndToEnd(b []byte, rh *Response, f func(name, value []byte)) {
	clPassed := false
	_, rest := cutLine(b)
	for {
		var line []byte
		line, rest = cutLine(rest)
		if len(line) == 0 {
			return
		}
		colon := indexByte(line, ':')
		if name := line[:colon]; passes(name, rh, &clPassed) {
			f(name, trimOWS(line[colon+1:]))
		}
	}
}
