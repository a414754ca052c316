package router

import (
	"bufio"
	"net/url"
	"path"
	"strings"
)

// request is one parsed client request head. Every string slices head,
// which is the only allocation of a request the router forwards.
type request struct {
	head string
	// method, target (as sent, origin-form after absolute-form is
	// converted), host (Host header or absolute-form authority) and the
	// path used for routing (percent-decoded, without the query).
	method, target, host, path string
	http10                     bool
	// headers are the end-to-end header fields, in order (hop-by-hop
	// fields and the ones the router writes itself are left out).
	headers []hdr
	// xff are the client's X-Forwarded-For values.
	xff []string
	// contentLength: -1 for a chunked body, 0 for none.
	contentLength int64
	hasCL         bool
	// close: the client does not want the connection kept alive.
	close bool
	// upgrade is the Upgrade value of a "Connection: upgrade" request.
	upgrade        string
	expectContinue bool

	// body is what bufferBody read of the body before the request took a
	// slot, in bodyBuf; bodyDone: that is all of it, otherwise bodyRest
	// reads the remainder.
	body     []byte
	bodyBuf  *[]byte
	bodyDone bool
	bodyRest *bodyReader
}

type hdr struct{ name, value string }

// requestError is a request the router refuses before routing it; the
// connection is closed after the answer.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(msg string) *requestError { return &requestError{400, msg} }

var errHeadTooLarge = &requestError{431, "request head too large"}

// readHead reads a request head (through its empty line) into buf, which
// is reused between requests; more than max bytes is errHeadTooLarge.
// Bare LF line ends are accepted, as RFC 9112 §2.2 allows.
func readHead(br *bufio.Reader, buf []byte, max int) ([]byte, error) {
	buf = buf[:0]
	for lines := 0; ; lines++ {
		line, err := br.ReadSlice('\n')
		if len(buf)+len(line) > max {
			return buf, errHeadTooLarge
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
		if len(buf) == 0 && (len(line) == 1 || len(line) == 2 && line[0] == '\r') {
			if lines > 4 {
				return buf, badRequest("empty lines before the request")
			}
			continue
		}
		buf = append(buf, line...)
		if len(line) == 1 || len(line) == 2 && line[0] == '\r' {
			return buf, nil
		}
	}
}

// parseRequest parses a complete head strictly: anything ambiguous that
// could let the router and an app disagree about where a request ends
// (request smuggling) is refused.
func parseRequest(req *request, head string, hdrs []hdr) error {
	*req = request{head: head, headers: hdrs[:0], xff: req.xff[:0]}
	line, rest := cutLine(head)
	sp1 := strings.IndexByte(line, ' ')
	sp2 := strings.LastIndexByte(line, ' ')
	if sp1 <= 0 || sp2 <= sp1+1 {
		return badRequest("malformed request line")
	}
	req.method, req.target = line[:sp1], line[sp1+1:sp2]
	switch proto := line[sp2+1:]; proto {
	case "HTTP/1.1":
	case "HTTP/1.0":
		req.http10 = true
	default:
		if len(proto) == 8 && strings.HasPrefix(proto, "HTTP/") && proto[6] == '.' && isDigit(proto[5]) && isDigit(proto[7]) {
			return &requestError{505, "HTTP version not supported"}
		}
		return badRequest("malformed request line")
	}
	for i := 0; i < len(req.method); i++ {
		if !isTokenChar(req.method[i]) {
			return badRequest("malformed method")
		}
	}
	for i := 0; i < len(req.target); i++ {
		if c := req.target[i]; c <= ' ' || c == 0x7f {
			return badRequest("malformed request target")
		}
	}
	if req.method == "CONNECT" {
		return &requestError{405, "CONNECT is not supported"}
	}

	var hosts int
	var te string
	var teSeen bool
	var connTokens []string
	var upgradeToken bool
	var upgradeValue string
	keepAlive := false
	for {
		line, rest = cutLine(rest)
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return badRequest("obsolete line folding")
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 {
			return badRequest("malformed header line")
		}
		name := line[:colon]
		for i := 0; i < len(name); i++ {
			if !isTokenChar(name[i]) {
				return badRequest("malformed header name")
			}
		}
		value := strings.Trim(line[colon+1:], " \t")
		for i := 0; i < len(value); i++ {
			if c := value[i]; c < ' ' && c != '\t' || c == 0x7f {
				return badRequest("control character in a header value")
			}
		}
		switch headerKind(name) {
		case hHost:
			hosts++
			req.host = value
		case hContentLength:
			n, ok := parseContentLength(value)
			if !ok || req.hasCL && n != req.contentLength {
				return badRequest("bad Content-Length")
			}
			req.contentLength, req.hasCL = n, true
		case hTransferEncoding:
			if teSeen {
				te += "," + value
			} else {
				te = value
			}
			teSeen = true
		case hConnection:
			for f := range strings.SplitSeq(value, ",") {
				f = strings.TrimSpace(f)
				switch {
				case strings.EqualFold(f, "close"):
					req.close = true
				case strings.EqualFold(f, "keep-alive"):
					keepAlive = true
				case strings.EqualFold(f, "upgrade"):
					upgradeToken = true
				case f != "":
					connTokens = append(connTokens, f)
				}
			}
		case hUpgrade:
			upgradeValue = value
		case hExpect:
			if !strings.EqualFold(value, "100-continue") {
				return &requestError{417, "unsupported expectation"}
			}
			req.expectContinue = true
		case hXForwardedFor:
			req.xff = append(req.xff, value)
		case hDrop:
		default:
			req.headers = append(req.headers, hdr{name, value})
		}
	}
	// Upgrade needs both "Connection: upgrade" and an Upgrade header.
	if upgradeToken && upgradeValue != "" && !req.http10 {
		req.upgrade = upgradeValue
	}
	if len(connTokens) > 0 {
		kept := req.headers[:0]
		for _, h := range req.headers {
			if !containsFold(connTokens, h.name) {
				kept = append(kept, h)
			}
		}
		req.headers = kept
	}
	if req.http10 && !keepAlive {
		req.close = true
	}
	if teSeen {
		if req.http10 {
			return badRequest("Transfer-Encoding in an HTTP/1.0 request")
		}
		if !strings.EqualFold(strings.TrimSpace(te), "chunked") {
			return &requestError{501, "unsupported transfer coding"}
		}
		if req.hasCL {
			return badRequest("both Content-Length and Transfer-Encoding")
		}
		req.contentLength = -1
	}

	// Target forms (RFC 9112 §3.2).
	switch {
	case strings.HasPrefix(req.target, "/"):
	case req.target == "*" && req.method == "OPTIONS":
	case hasPrefixFold(req.target, "http://") || hasPrefixFold(req.target, "https://"):
		u, err := url.ParseRequestURI(req.target)
		if err != nil || u.Host == "" {
			return badRequest("malformed absolute-form target")
		}
		req.host = u.Host // RFC 9112 §3.2.2: the authority wins over Host
		req.target = u.RequestURI()
		hosts = max(hosts, 1)
	default:
		return badRequest("malformed request target")
	}
	if hosts > 1 || hosts == 0 && !req.http10 {
		return badRequest("missing or repeated Host header")
	}
	if !validHost(req.host) {
		return badRequest("malformed Host header")
	}
	p := req.target
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
	req.path = p
	return nil
}

func containsFold(list []string, s string) bool {
	for _, t := range list {
		if strings.EqualFold(t, s) {
			return true
		}
	}
	return false
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// parseContentLength accepts 1*DIGIT only (no sign, no spaces, no list).
func parseContentLength(v string) (int64, bool) {
	if v == "" || len(v) > 18 {
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

// validHost: the characters of a reg-name, IP literal and port (RFC 3986),
// as net/http's server checks them.
func validHost(h string) bool {
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

// Header kinds the router treats specially.
const (
	hOther = iota
	hHost
	hContentLength
	hTransferEncoding
	hConnection
	hUpgrade
	hExpect
	hXForwardedFor
	// hDrop: hop-by-hop fields and forwarding headers the router sets
	// itself (X-Forwarded-Proto/-Host: a client's claim is not passed on).
	hDrop
)

// headerKind classifies a request field name (case-insensitive).
func headerKind(name string) int {
	switch len(name) {
	case 2:
		if strings.EqualFold(name, "te") {
			return hDrop
		}
	case 4:
		if strings.EqualFold(name, "host") {
			return hHost
		}
	case 6:
		if strings.EqualFold(name, "expect") {
			return hExpect
		}
	case 7:
		if strings.EqualFold(name, "upgrade") {
			return hUpgrade
		}
		if strings.EqualFold(name, "trailer") {
			return hDrop
		}
	case 10:
		if strings.EqualFold(name, "connection") || strings.EqualFold(name, "keep-alive") {
			if name[0] == 'c' || name[0] == 'C' {
				return hConnection
			}
			return hDrop
		}
	case 14:
		if strings.EqualFold(name, "content-length") {
			return hContentLength
		}
	case 15:
		if strings.EqualFold(name, "x-forwarded-for") {
			return hXForwardedFor
		}
	case 16:
		if strings.EqualFold(name, "x-forwarded-host") || strings.EqualFold(name, "proxy-connection") {
			return hDrop
		}
	case 17:
		if strings.EqualFold(name, "transfer-encoding") {
			return hTransferEncoding
		}
		if strings.EqualFold(name, "x-forwarded-proto") {
			return hDrop
		}
	case 18:
		if strings.EqualFold(name, "proxy-authenticate") {
			return hDrop
		}
	case 19:
		if strings.EqualFold(name, "proxy-authorization") {
			return hDrop
		}
	}
	return hOther
}
