package wire

import (
	"bufio"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// Request is one parsed request head. Every string slices Head, so a
// request costs the one allocation that copies its head into a string.
type Request struct {
	// Head is the request head through its empty line.
	Head string
	// Method and Target as sent (Target in origin-form once an
	// absolute-form target is converted); Host is the Host field or the
	// absolute-form authority; Path is what the router routes on: Target
	// percent-decoded, without the query, dot segments removed.
	Method, Target, Host, Path string
	// HTTP10: the request line said HTTP/1.0 (otherwise HTTP/1.1).
	HTTP10 bool
	// Header holds the end-to-end fields, in order: hop-by-hop fields,
	// those the Connection field lists, the ones WriteRequestHead writes
	// itself and those of XForwardedFor and Forwarded are left out.
	Header []Field
	// XForwardedFor are the client's X-Forwarded-For values.
	XForwardedFor []string
	// Forwarded holds the client's X-Forwarded-Proto, X-Forwarded-Host
	// and Forwarded (RFC 7239) fields, in order. WriteRequestHead passes
	// them on from a trusted peer only (Peer.Trusted).
	Forwarded []Field
	// ContentLength is -1 for a chunked body, 0 for none.
	ContentLength int64
	// HasContentLength: the client sent a Content-Length (perhaps 0).
	HasContentLength bool
	// Close: the client does not want the connection kept alive.
	Close bool
	// Upgrade is the Upgrade value of a "Connection: upgrade" request.
	Upgrade string
	// ExpectContinue: the client waits for "100 Continue" before it
	// sends the body.
	ExpectContinue bool
	// UserAgent is the User-Agent value (also in Header), for the access
	// log.
	UserAgent string
	// RequestID is the client's X-Request-Id, "" when it sent none or
	// more than one. It is not in Header: WriteRequestHead writes
	// Peer.RequestID instead, which the router chooses.
	RequestID string
}

// RequestError is a request the router refuses before routing it, with
// the status to answer; the connection is closed after the answer.
type RequestError struct {
	Status int
	Msg    string
}

func (e *RequestError) Error() string { return e.Msg }

func badRequest(msg string) *RequestError { return &RequestError{400, msg} }

// ErrHeadTooLarge is a request head over ReadHead's limit.
var ErrHeadTooLarge = &RequestError{431, "request head too large"}

// ReadHead reads a request head (through its empty line) into buf, which
// the caller reuses between requests; more than max bytes is
// ErrHeadTooLarge. Bare LF line ends are accepted, as RFC 9112 §2.2
// allows.
func ReadHead(br *bufio.Reader, buf []byte, max int) ([]byte, error) {
	buf = buf[:0]
	for lines := 0; ; lines++ {
		line, err := br.ReadSlice('\n')
		if len(buf)+len(line) > max {
			return buf, ErrHeadTooLarge
		}
		if err == bufio.ErrBufferFull {
			buf = append(buf, line...)
			lines-- // the same line continues
			continue
		}
		if err != nil {
			return buf, err
		}
		// RFC 9112 §2.2: ignore empty lines before the request line.
		if len(buf) == 0 && isEmptyLine(line) {
			if lines > 4 {
				return buf, badRequest("empty lines before the request")
			}
			continue
		}
		buf = append(buf, line...)
		if isEmptyLine(line) {
			return buf, nil
		}
	}
}

// HeadEnd returns the length of the head (through its empty line) at the
// start of b, or -1 when b holds no complete head.
func HeadEnd(b []byte) int {
	for i := 0; ; {
		j := indexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		if i > 0 && (j == 0 || (j == 1 && b[i] == '\r')) {
			return i + j + 1
		}
		i += j + 1
	}
}

// ParseRequest parses a complete head (as ReadHead returns it) into req,
// reusing req's slices. Any error is a *RequestError.
func ParseRequest(req *Request, head string) error {
	*req = Request{Head: head, Header: req.Header[:0], XForwardedFor: req.XForwardedFor[:0], Forwarded: req.Forwarded[:0]}
	line, rest := cutLine(head)
	sp1 := strings.IndexByte(line, ' ')
	sp2 := strings.LastIndexByte(line, ' ')
	if sp1 <= 0 || sp2 <= sp1+1 {
		return badRequest("malformed request line")
	}
	req.Method, req.Target = line[:sp1], line[sp1+1:sp2]
	switch proto := line[sp2+1:]; proto {
	case "HTTP/1.1":
	case "HTTP/1.0":
		req.HTTP10 = true
	default:
		if len(proto) == 8 && strings.HasPrefix(proto, "HTTP/") && proto[6] == '.' && isDigit(proto[5]) && isDigit(proto[7]) {
			return &RequestError{505, "HTTP version not supported"}
		}
		return badRequest("malformed request line")
	}
	if !isToken(req.Method) {
		return badRequest("malformed method")
	}
	for i := 0; i < len(req.Target); i++ {
		if c := req.Target[i]; c <= ' ' || c == 0x7f {
			return badRequest("malformed request target")
		}
	}
	if req.Method == "CONNECT" {
		return &RequestError{405, "CONNECT is not supported"}
	}

	var hosts int
	var te string
	var teSeen bool
	// Room for the Connection-listed names of any sensible request, on
	// the stack.
	var tokBuf [8]string
	connTokens := tokBuf[:0]
	var upgradeToken bool
	var upgradeValue string
	keepAlive := false
	ids := 0
	for {
		line, rest = cutLine(rest)
		if line == "" {
			break
		}
		name, value, ok := splitField(line)
		if !ok {
			switch {
			case line[0] == ' ' || line[0] == '\t':
				return badRequest("obsolete line folding")
			case strings.IndexByte(line, ':') <= 0:
				return badRequest("malformed header line")
			case !isToken(name):
				return badRequest("malformed header name")
			}
			return badRequest("control character in a header value")
		}
		switch fieldKind(name) {
		case kHost:
			hosts++
			req.Host = value
		case kContentLength:
			n, ok := parseContentLength(value)
			if !ok || req.HasContentLength && n != req.ContentLength {
				return badRequest("bad Content-Length")
			}
			req.ContentLength, req.HasContentLength = n, true
		case kTransferEncoding:
			if teSeen {
				te += "," + value
			} else {
				te = value
			}
			teSeen = true
		case kConnection:
			for f := range strings.SplitSeq(value, ",") {
				f = trimOWS(f)
				switch {
				case eqFold(f, "close"):
					req.Close = true
				case eqFold(f, "keep-alive"):
					keepAlive = true
				case eqFold(f, "upgrade"):
					upgradeToken = true
				case f != "":
					connTokens = append(connTokens, f)
				}
			}
		case kUpgrade:
			upgradeValue = value
		case kExpect:
			if !eqFold(value, "100-continue") {
				return &RequestError{417, "unsupported expectation"}
			}
			req.ExpectContinue = true
		case kXForwardedFor:
			req.XForwardedFor = append(req.XForwardedFor, value)
		case kForwarded:
			req.Forwarded = append(req.Forwarded, Field{name, value})
		case kUserAgent:
			req.UserAgent = value
			req.Header = append(req.Header, Field{name, value})
		case kRequestID:
			ids++
			req.RequestID = value
		case kProxyAuthorization, kHop:
		default:
			if len(name) == 9 && eqFold(name, "forwarded") {
				req.Forwarded = append(req.Forwarded, Field{name, value})
				break
			}
			req.Header = append(req.Header, Field{name, value})
		}
	}
	if ids > 1 {
		req.RequestID = "" // which one would be the proxy's?
	}
	// Upgrade needs both "Connection: upgrade" and an Upgrade header.
	if upgradeToken && upgradeValue != "" && !req.HTTP10 {
		req.Upgrade = upgradeValue
	}
	if len(connTokens) > 0 {
		req.Header = unlisted(req.Header, connTokens)
		req.Forwarded = unlisted(req.Forwarded, connTokens)
	}
	if req.HTTP10 && !keepAlive {
		req.Close = true
	}
	if teSeen {
		if req.HTTP10 {
			return badRequest("Transfer-Encoding in an HTTP/1.0 request")
		}
		if !eqFold(trimOWS(te), "chunked") {
			return &RequestError{501, "unsupported transfer coding"}
		}
		if req.HasContentLength {
			return badRequest("both Content-Length and Transfer-Encoding")
		}
		req.ContentLength = -1
	}

	// Target forms (RFC 9112 §3.2).
	switch {
	case strings.HasPrefix(req.Target, "/"):
	case req.Target == "*" && req.Method == "OPTIONS":
	case hasPrefixFold(req.Target, "http://") || hasPrefixFold(req.Target, "https://"):
		u, err := url.ParseRequestURI(req.Target)
		if err != nil || u.Host == "" {
			return badRequest("malformed absolute-form target")
		}
		req.Host = u.Host // RFC 9112 §3.2.2: the authority wins over Host
		req.Target = u.RequestURI()
		hosts = max(hosts, 1)
	default:
		return badRequest("malformed request target")
	}
	if hosts > 1 || hosts == 0 && !req.HTTP10 {
		return badRequest("missing or repeated Host header")
	}
	if !ValidHost(req.Host) {
		return badRequest("malformed Host header")
	}
	p := req.Target
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if strings.IndexByte(p, '%') >= 0 {
		d, err := url.PathUnescape(p)
		if err != nil {
			return badRequest("malformed percent-encoding in the path")
		}
		p = d
	}
	// Route on the path the app will see once it removes dot segments
	// (RFC 3986 §5.2.4), so "/api/../admin" is routed as "/admin".
	if strings.Contains(p, "/.") && p[0] == '/' {
		c := path.Clean(p)
		if strings.HasSuffix(p, "/") && c != "/" {
			c += "/"
		}
		p = c
	}
	req.Path = p
	return nil
}

// unlisted removes from fs, in place, the fields a Connection field
// listed (they are hop-by-hop).
func unlisted(fs []Field, connTokens []string) []Field {
	kept := fs[:0]
	for _, h := range fs {
		if !listed(connTokens, h.Name) {
			kept = append(kept, h)
		}
	}
	return kept
}

// listed reports whether a Connection field listed name.
func listed[T, N text](tokens []T, name N) bool {
	for _, t := range tokens {
		if eqFoldBoth(t, name) {
			return true
		}
	}
	return false
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && eqFold(s[:len(prefix)], prefix)
}

// ValidHost reports whether h holds only the characters of a reg-name, IP
// literal and port (RFC 3986), as net/http's server checks them.
func ValidHost(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		if strings.IndexByte("-._~:[]!$&'()*+,;=%@", c) < 0 {
			return false
		}
	}
	return true
}

// Peer is the client end of the connection a request came on, as
// WriteRequestHead describes it to the app.
type Peer struct {
	// IP is the TCP peer's address, appended to X-Forwarded-For.
	IP string
	// TLS: the connection is HTTPS (X-Forwarded-Proto: https).
	TLS bool
	// Trusted: the peer is a trusted proxy (the router's
	// Config.TrustedProxies), whose X-Forwarded-* and Forwarded fields
	// are passed on.
	Trusted bool
	// RequestID is the X-Request-Id the app gets (none when empty); the
	// client's own never passes as sent.
	RequestID []byte
}

// WriteRequestHead writes the request line and header for the app: the
// client's end-to-end fields, the original Host, the X-Forwarded-* set
// and the body framing, which the router always sets itself so that the
// app cannot read it differently.
//
// From a trusted peer, X-Forwarded-For keeps the values it sent, with
// peer.IP appended, and its X-Forwarded-Proto, X-Forwarded-Host and
// Forwarded fields are passed on as sent; the router writes
// X-Forwarded-Proto (http or https, by the connection) and
// X-Forwarded-Host (the Host) only where the peer sent none. From any
// other peer all four are dropped, as any client can write them: the app
// gets X-Forwarded-For: peer.IP, the connection's X-Forwarded-Proto and
// X-Forwarded-Host: Host.
func WriteRequestHead(bw *bufio.Writer, req *Request, peer Peer) {
	bw.WriteString(req.Method)
	bw.WriteByte(' ')
	bw.WriteString(req.Target)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(req.Host)
	bw.WriteString("\r\n")
	for _, h := range req.Header {
		bw.WriteString(h.Name)
		bw.WriteString(": ")
		bw.WriteString(h.Value)
		bw.WriteString("\r\n")
	}
	bw.WriteString("X-Forwarded-For: ")
	var proto, host bool
	if peer.Trusted {
		for _, v := range req.XForwardedFor {
			if v != "" {
				bw.WriteString(v)
				bw.WriteString(", ")
			}
		}
		bw.WriteString(peer.IP)
		bw.WriteString("\r\n")
		for _, h := range req.Forwarded {
			if h.Value == "" {
				continue // absent, as far as the app can tell
			}
			switch len(h.Name) { // the three names differ in length
			case len("x-forwarded-proto"):
				proto = true
			case len("x-forwarded-host"):
				host = true
			}
			bw.WriteString(h.Name)
			bw.WriteString(": ")
			bw.WriteString(h.Value)
			bw.WriteString("\r\n")
		}
	} else {
		bw.WriteString(peer.IP)
		bw.WriteString("\r\n")
	}
	if !proto {
		if peer.TLS {
			bw.WriteString("X-Forwarded-Proto: https\r\n")
		} else {
			bw.WriteString("X-Forwarded-Proto: http\r\n")
		}
	}
	if !host {
		bw.WriteString("X-Forwarded-Host: ")
		bw.WriteString(req.Host)
		bw.WriteString("\r\n")
	}
	if len(peer.RequestID) > 0 {
		bw.WriteString("X-Request-Id: ")
		bw.Write(peer.RequestID)
		bw.WriteString("\r\n")
	}
	if req.Upgrade != "" {
		bw.WriteString("Connection: Upgrade\r\nUpgrade: ")
		bw.WriteString(req.Upgrade)
		bw.WriteString("\r\n")
	}
	switch {
	case req.ContentLength > 0:
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), req.ContentLength, 10))
		bw.WriteString("\r\n")
	case req.ContentLength < 0:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	case req.HasContentLength:
		bw.WriteString("Content-Length: 0\r\n")
	}
	bw.WriteString("\r\n")
}
