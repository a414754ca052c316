package wire

import (
	"bufio"
	"bytes"
	"slices"
	"strings"
	"testing"
)

// The parsers never panic, and what ParseRequest accepts has a Host the
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
		head, err := ReadHead(bufio.NewReader(strings.NewReader(s)), nil, 4096)
		if err != nil {
			return
		}
		var req Request
		if ParseRequest(&req, string(head)) != nil {
			return
		}
		if req.ContentLength < -1 || !ValidHost(req.Host) || req.Target == "" {
			t.Fatalf("accepted %q: %+v", s, req)
		}
		for _, trusted := range []bool{false, true} {
			var buf bytes.Buffer
			bw := bufio.NewWriter(&buf)
			WriteRequestHead(bw, &req, Peer{IP: "127.0.0.1", Trusted: trusted})
			bw.Flush()
			// The head written to the app parses back to the same request.
			var back Request
			if err := ParseRequest(&back, buf.String()); err != nil {
				t.Fatalf("forwarded head of %q does not parse: %v\n%s", s, err, buf.String())
			}
			if back.ContentLength != req.ContentLength || back.Host != req.Host || back.Target != req.Target {
				t.Fatalf("forwarded head of %q differs: %+v vs %+v", s, back, req)
			}
			// One X-Forwarded-For, ending with the peer; from an
			// untrusted peer nothing of the client's X-Forwarded-* set.
			xff := back.XForwardedFor
			if len(xff) != 1 || !strings.HasSuffix(xff[0], "127.0.0.1") || !trusted && xff[0] != "127.0.0.1" {
				t.Fatalf("forwarded head of %q (trusted %v): X-Forwarded-For %q", s, trusted, xff)
			}
			if !trusted && !slices.Equal(back.Forwarded, []Field{{"X-Forwarded-Proto", "http"}, {"X-Forwarded-Host", req.Host}}) {
				t.Fatalf("forwarded head of %q (untrusted): %q", s, back.Forwarded)
			}
		}
	})
}

func FuzzScanResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nConnection: x-y, close\r\nX-Y: 1\r\n\r\n",
		"HTTP/1.0 101 Switching\nUpgrade: websocket\n\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(s)
		end := HeadEnd(b)
		if end < 0 {
			return
		}
		var rh Response
		if ScanResponse(&rh, b[:end], false) != nil {
			return
		}
		var out bytes.Buffer
		bw := bufio.NewWriter(&out)
		WriteResponseHead(bw, b[:end], &rh, false, false, rh.Length < 0 && !rh.NoBody)
		bw.Flush()
		if HeadEnd(out.Bytes()) != out.Len() {
			t.Fatalf("client head of %q is not one head: %q", s, out.String())
		}
	})
}
