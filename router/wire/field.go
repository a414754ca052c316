package wire

import (
	"bytes"
	"strings"
)

// Field is one header field as the router forwards it: the name as the
// client sent it, the value without surrounding whitespace.
type Field struct{ Name, Value string }

// text is what a head is held as: a request head is one string, a
// response head is scanned in place in the reader's buffer. The helpers
// below serve both, so the two parsers cannot drift apart.
type text interface{ ~string | ~[]byte }

// kind is what the router does with a field; see fieldKind.
type kind uint8

const (
	kOther kind = iota
	kHost
	kContentLength
	kTransferEncoding
	kConnection
	kUpgrade
	kExpect
	kXForwardedFor
	// kForwarded: X-Forwarded-Proto and -Host, which the router sets
	// itself in requests unless the peer is a trusted proxy (then they
	// pass as sent; see WriteRequestHead).
	kForwarded
	// kProxyAuthorization is meant for the router, not the app; it is
	// dropped from requests (an app's response may carry the name).
	kProxyAuthorization
	// kHop: hop-by-hop in both directions (RFC 9110 §7.6.1), never
	// passed on.
	kHop
	// kUserAgent is passed on and kept for the access log.
	kUserAgent
	// kRequestID: X-Request-Id, which the router writes itself (the
	// trusted proxy's value or its own; see Peer.RequestID).
	kRequestID
)

// fieldKind classifies a field name case-insensitively.
func fieldKind[T text](name T) kind {
	switch len(name) {
	case 2:
		if eqFold(name, "te") {
			return kHop
		}
	case 4:
		if eqFold(name, "host") {
			return kHost
		}
	case 6:
		if eqFold(name, "expect") {
			return kExpect
		}
	case 7:
		if eqFold(name, "upgrade") {
			return kUpgrade
		}
		if eqFold(name, "trailer") {
			return kHop
		}
	case 10:
		if eqFold(name, "connection") {
			return kConnection
		}
		if eqFold(name, "keep-alive") {
			return kHop
		}
		if eqFold(name, "user-agent") {
			return kUserAgent
		}
	case 12:
		if eqFold(name, "x-request-id") {
			return kRequestID
		}
	case 14:
		if eqFold(name, "content-length") {
			return kContentLength
		}
	case 15:
		if eqFold(name, "x-forwarded-for") {
			return kXForwardedFor
		}
	case 16:
		if eqFold(name, "x-forwarded-host") {
			return kForwarded
		}
		if eqFold(name, "proxy-connection") {
			return kHop
		}
	case 17:
		if eqFold(name, "transfer-encoding") {
			return kTransferEncoding
		}
		if eqFold(name, "x-forwarded-proto") {
			return kForwarded
		}
	case 18:
		if eqFold(name, "proxy-authenticate") {
			return kHop
		}
	case 19:
		if eqFold(name, "proxy-authorization") {
			return kProxyAuthorization
		}
	}
	return kOther
}

// eqFold compares ASCII case-insensitively; lower is lower case.
func eqFold[T text](s T, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// eqFoldBoth compares two names ASCII case-insensitively.
func eqFoldBoth[A, B text](a A, b B) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func indexByte[T text](s T, c byte) int {
	// Both arms are the assembly IndexByte; the interface does not escape.
	switch v := any(s).(type) {
	case string:
		return strings.IndexByte(v, c)
	case []byte:
		return bytes.IndexByte(v, c)
	}
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// cutLine splits off the first line; a CR before its LF is dropped
// (bare LF line ends are accepted, as RFC 9112 §2.2 allows).
func cutLine[T text](s T) (line, rest T) {
	i := indexByte(s, '\n')
	if i < 0 {
		return s, rest
	}
	line, rest = s[:i], s[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

// trimOWS removes optional whitespace (SP, HTAB) at both ends.
func trimOWS[T text](s T) T {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// splitField splits a field line at its colon and checks the name and
// value; ok is false for anything that is not a well-formed field.
func splitField[T text](line T) (name, value T, ok bool) {
	if line[0] == ' ' || line[0] == '\t' {
		return name, value, false // obsolete line folding
	}
	colon := indexByte(line, ':')
	if colon <= 0 {
		return name, value, false
	}
	name = line[:colon]
	if !isToken(name) {
		return name, value, false
	}
	value = trimOWS(line[colon+1:])
	return name, value, validValue(value)
}

func isToken[T text](s T) bool {
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// validValue refuses control characters other than HTAB (RFC 9110 §5.5:
// a bare CR or NUL in a value is never valid).
func validValue[T text](v T) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// parseContentLength accepts 1*DIGIT only (no sign, no spaces, no list).
func parseContentLength[T text](v T) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		if !isDigit(v[i]) {
			return 0, false
		}
		n = n*10 + int64(v[i]-'0')
	}
	return n, true
}

// isEmptyLine: the line that ends a head, with or without its CR.
func isEmptyLine(line []byte) bool {
	return len(line) == 1 || len(line) == 2 && line[0] == '\r'
}
