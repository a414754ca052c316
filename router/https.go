package router

import (
	"crypto/tls"
	"net"
	"strconv"
	"strings"
)

// HTTPS in the front end (docs/OPERATIONS.md "HTTPS"). A connection whose
// first byte is a TLS handshake record (0x16; no HTTP method starts with
// it) is served over TLS, on whichever socket it arrived: the router's
// socket unit listens on 80 and 443 with one FileDescriptorName. Plain-HTTP requests
// to a domain served over HTTPS are redirected, except ACME HTTP-01
// challenges, which the certificate engine answers here; HTTPS responses
// of apps with hsts: true carry Strict-Transport-Security. Clients that
// offer h2 by ALPN get HTTP/2 (h2.go), the others HTTP/1.1.

const (
	// tlsHandshake is the content type of a TLS handshake record.
	tlsHandshake = 0x16

	acmeChallengePrefix = "/.well-known/acme-challenge/"
	// hstsField: one year, the value browsers' preload lists ask for; no
	// includeSubDomains, since names below may belong to other apps.
	hstsField = "Strict-Transport-Security: max-age=31536000\r\n"
)

// startTLS makes the connection a TLS server connection. The bytes the
// reader already holds are the start of the handshake: the TLS layer reads
// them first. A connection that negotiated h2 is served over HTTP/2
// (h2.go) here, to its end. false: the connection is done (no
// certificates are configured, the handshake failed, or HTTP/2 served
// it) and is closed.
func (cc *clientConn) startTLS() bool {
	if cc.srv.tls == nil {
		return false
	}
	held, _ := cc.br.Peek(cc.br.Buffered())
	raw := &prefixConn{Conn: cc.c, prefix: append([]byte(nil), held...)}
	tc := tls.Server(raw, cc.srv.tls)
	// The handshake runs under the deadline serve set. A connection that
	// negotiated acme-tls/1 was the CA validating a TLS-ALPN-01
	// challenge: it carries no HTTP.
	if tc.Handshake() != nil {
		tc.Close()
		return false
	}
	st := tc.ConnectionState()
	proto := st.NegotiatedProtocol
	if proto == "acme-tls/1" {
		tc.Close()
		return false
	}
	cc.c = tc
	cc.tls, cc.tlsVersion = true, st.Version
	if proto == "h2" {
		cc.serveH2(tc)
		return false
	}
	cc.br.Reset((*clientReader)(cc))
	return true
}

// prefixConn reads prefix before the connection.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// acmeChallenge answers an HTTP-01 challenge the certificate engine has
// in progress for host; false: it is none of ours.
func (cc *clientConn) acmeChallenge(req *request, host string, res *result) bool {
	c := cc.rt.cfg.Certs
	if c == nil {
		return false
	}
	body, ok := c.HTTPChallenge(host, req.Path)
	if !ok {
		return false
	}
	*res = cc.simple(req, 200, body, "")
	return true
}

// redirectHTTPS answers 301 with the same host, path and query over
// HTTPS. Only GET and HEAD are redirected this way; other methods get 308,
// which keeps the method and body.
func (cc *clientConn) redirectHTTPS(req *request, host string) result {
	code := 301
	if req.Method != "GET" && req.Method != "HEAD" {
		code = 308
	}
	target := req.Target
	if !strings.HasPrefix(target, "/") {
		target = "/"
	}
	loc := "https://" + host + target
	closeConn := req.ContentLength != 0 && !req.bodyDone || req.Close || cc.srv.shutdown.Load()
	bw := cc.bw
	cc.armWrite()
	body := "Moved to " + loc + "\n"
	bw.WriteString("HTTP/1.1 ")
	bw.WriteString(strconv.Itoa(code))
	bw.WriteByte(' ')
	bw.WriteString(statusText(code))
	bw.WriteString("\r\nLocation: ")
	bw.WriteString(loc)
	bw.WriteString("\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ")
	bw.WriteString(strconv.Itoa(len(body)))
	if closeConn {
		bw.WriteString("\r\nConnection: close")
	}
	bw.WriteString("\r\n\r\n")
	if req.Method != "HEAD" {
		bw.WriteString(body)
	}
	if closeConn {
		bw.Flush()
	}
	return result{status: code, close: closeConn}
}
