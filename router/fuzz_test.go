package router

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// The parsers never panic, and what parseRequest accepts has a Host the
// router can route and a framing with one meaning.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n",
		"POST /x?y HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close, x-a\r\nX-A: 1\r\n\r\n",
		"GET http://a.test/p HTTP/1.1\r\nHost: b\r\n\r\n",
		"GET /%41 HTTP/1.0\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		head, err := readHead(bufio.NewReader(strings.NewReader(s)), nil, 4096)
		if err != nil {
			return
		}
		var req request
		if parseRequest(&req, string(head), nil) != nil {
			return
		}
		if req.contentLength < -1 || !validHost(req.host) || req.target == "" {
			t.Fatalf("accepted %q: %+v", s, req)
		}
		var buf bytes.Buffer
		bw := bufio.NewWriter(&buf)
		writeRequestHead(bw, &req, &clientConn{ip: "127.0.0.1"})
		bw.Flush()
		// The head written to the app parses back to the same request.
		var back request
		if err := parseRequest(&back, buf.String(), nil); err != nil {
			t.Fatalf("forwarded head of %q does not parse: %v\n%s", s, err, buf.String())
		}
		if back.contentLength != req.contentLength || back.host != req.host || back.target != req.target {
			t.Fatalf("forwarded head of %q differs: %+v vs %+v", s, back, req)
		}
	})
}

func FuzzScanResponseHead(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nConnection: x-y, close\r\nX-Y: 1\r\n\r\n",
		"HTTP/1.0 101 Switching\nUpgrade: websocket\n\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(s)
		end := headEnd(b)
		if end < 0 {
			return
		}
		c := &uconn{}
		rh, err := scanResponseHead(b[:end], false, c)
		if err != nil {
			return
		}
		var out bytes.Buffer
		bw := bufio.NewWriter(&out)
		writeClientHead(bw, b[:end], &rh, c, false, false, rh.length < 0 && !rh.noBody)
		bw.Flush()
		if headEnd(out.Bytes()) != out.Len() {
			t.Fatalf("client head of %q is not one head: %q", s, out.String())
		}
	})
}
