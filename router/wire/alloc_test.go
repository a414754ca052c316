package wire

import (
	"bufio"
	"io"
	"testing"
)

// The codec allocates nothing per message once its slices have grown:
// the router's one allocation per request is the head's string, made by
// the caller. (The generic helpers box their argument in an interface
// that must stay on the stack.)
func TestNoAllocations(t *testing.T) {
	head := "GET /a/b?c HTTP/1.1\r\nHost: a.test\r\nUser-Agent: x\r\nAccept: */*\r\nConnection: keep-alive, x-a\r\nX-A: 1\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n"
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: x-b\r\nX-B: 1\r\nContent-Length: 5\r\n\r\n")
	chunked := "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
	length := "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12345\r\n\r\n"
	proxied := "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: b\r\nForwarded: for=1.2.3.4\r\nConnection: x-forwarded-host\r\nX-Request-Id: edge-1\r\n\r\n"
	var req Request
	var rh Response
	bw := bufio.NewWriter(io.Discard)
	id := [8]byte{'a', 'b', '-', '1'}
	n := testing.AllocsPerRun(100, func() {
		if err := ParseRequest(&req, head); err != nil {
			t.Fatal(err)
		}
		WriteRequestHead(bw, &req, Peer{IP: "127.0.0.1"})
		for _, h := range []string{chunked, length} {
			if err := ParseRequest(&req, h); err != nil {
				t.Fatal(err)
			}
			WriteRequestHead(bw, &req, Peer{IP: "127.0.0.1", TLS: true})
		}
		// The X-Forwarded-* fields of a proxy, trusted and not.
		if err := ParseRequest(&req, proxied); err != nil {
			t.Fatal(err)
		}
		WriteRequestHead(bw, &req, Peer{IP: "10.0.0.1", TLS: true, Trusted: true})
		WriteRequestHead(bw, &req, Peer{IP: "10.0.0.1"})
		// A request id, the proxy's or the router's, written from a buffer.
		WriteRequestHead(bw, &req, Peer{IP: "10.0.0.1", Trusted: true, RequestID: id[:]})
		if err := ScanResponse(&rh, resp, false); err != nil {
			t.Fatal(err)
		}
		WriteResponseHead(bw, resp, &rh, false, false, false)
		WriteChunk(bw, resp)
		WriteLastChunk(bw)
	})
	if n != 0 {
		t.Fatalf("%v allocations per message", n)
	}
}
