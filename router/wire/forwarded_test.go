package wire

import (
	"bufio"
	"bytes"
	"slices"
	"strings"
	"testing"
)

// forwardedLines are the X-Forwarded-* and Forwarded lines of head, in
// order.
func forwardedLines(head string) []string {
	var out []string
	for _, l := range strings.Split(head, "\r\n") {
		if n := strings.ToLower(l); strings.HasPrefix(n, "x-forwarded-") || strings.HasPrefix(n, "forwarded:") {
			out = append(out, l)
		}
	}
	return out
}

// The X-Forwarded-* set written for the app: a trusted peer's claims kept
// (X-Forwarded-For appended to), any other peer's replaced.
func TestWriteRequestHeadForwarded(t *testing.T) {
	const (
		bare = "GET /p HTTP/1.1\r\nHost: a.test\r\nX-A: 1\r\n\r\n"
		sent = "GET /p HTTP/1.1\r\nHost: a.test\r\nX-Forwarded-For: 203.0.113.9\r\nx-forwarded-proto: https\r\n" +
			"X-Forwarded-Host: shop.test\r\nX-A: 1\r\nForwarded: for=203.0.113.9;proto=https\r\nX-Forwarded-For: 198.51.100.7, 10.1.1.1\r\n\r\n"
		// Only some of the set, one of them empty.
		partial = "GET /p HTTP/1.1\r\nHost: a.test\r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Host:\r\nX-A: 1\r\n\r\n"
		// Connection-listed fields are hop-by-hop, also from a proxy.
		listed = "GET /p HTTP/1.1\r\nHost: a.test\r\nConnection: forwarded, X-Forwarded-Proto\r\nX-Forwarded-Proto: https\r\n" +
			"Forwarded: for=203.0.113.9\r\nX-A: 1\r\n\r\n"
	)
	for _, c := range []struct {
		name    string
		head    string
		trusted bool
		tls     bool
		want    []string
	}{
		{"untrusted bare plain", bare, false, false, []string{
			"X-Forwarded-For: 10.0.0.1", "X-Forwarded-Proto: http", "X-Forwarded-Host: a.test"}},
		{"untrusted bare tls", bare, false, true, []string{
			"X-Forwarded-For: 10.0.0.1", "X-Forwarded-Proto: https", "X-Forwarded-Host: a.test"}},
		{"untrusted sent plain", sent, false, false, []string{
			"X-Forwarded-For: 10.0.0.1", "X-Forwarded-Proto: http", "X-Forwarded-Host: a.test"}},
		{"untrusted sent tls", sent, false, true, []string{
			"X-Forwarded-For: 10.0.0.1", "X-Forwarded-Proto: https", "X-Forwarded-Host: a.test"}},
		{"trusted bare plain", bare, true, false, []string{
			"X-Forwarded-For: 10.0.0.1", "X-Forwarded-Proto: http", "X-Forwarded-Host: a.test"}},
		{"trusted bare tls", bare, true, true, []string{
			"X-Forwarded-For: 10.0.0.1", "X-Forwarded-Proto: https", "X-Forwarded-Host: a.test"}},
		{"trusted sent plain", sent, true, false, []string{
			"X-Forwarded-For: 203.0.113.9, 198.51.100.7, 10.1.1.1, 10.0.0.1", "x-forwarded-proto: https",
			"X-Forwarded-Host: shop.test", "Forwarded: for=203.0.113.9;proto=https"}},
		{"trusted sent tls", sent, true, true, []string{
			"X-Forwarded-For: 203.0.113.9, 198.51.100.7, 10.1.1.1, 10.0.0.1", "x-forwarded-proto: https",
			"X-Forwarded-Host: shop.test", "Forwarded: for=203.0.113.9;proto=https"}},
		{"trusted partial tls", partial, true, true, []string{
			"X-Forwarded-For: 203.0.113.9, 10.0.0.1", "X-Forwarded-Proto: https", "X-Forwarded-Host: a.test"}},
		{"untrusted partial plain", partial, false, false, []string{
			"X-Forwarded-For: 10.0.0.1", "X-Forwarded-Proto: http", "X-Forwarded-Host: a.test"}},
		{"trusted listed plain", listed, true, false, []string{
			"X-Forwarded-For: 10.0.0.1", "X-Forwarded-Proto: http", "X-Forwarded-Host: a.test"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var req Request
			if err := ParseRequest(&req, c.head); err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			bw := bufio.NewWriter(&buf)
			WriteRequestHead(bw, &req, Peer{IP: "10.0.0.1", TLS: c.tls, Trusted: c.trusted})
			bw.Flush()
			out := buf.String()
			if got := forwardedLines(out); !slices.Equal(got, c.want) {
				t.Errorf("got\n  %q\nwant\n  %q", got, c.want)
			}
			// The rest of the head is the same either way.
			if !strings.HasPrefix(out, "GET /p HTTP/1.1\r\nHost: a.test\r\nX-A: 1\r\n") || !strings.HasSuffix(out, "\r\n\r\n") {
				t.Errorf("head %q", out)
			}
			var back Request
			if err := ParseRequest(&back, out); err != nil {
				t.Fatalf("written head does not parse: %v\n%s", err, out)
			}
		})
	}
}

// X-Request-Id: parsed out of Header (the router writes the one it
// chooses, Peer.RequestID, and never the client's as such); a repeated
// one is none. User-Agent is kept for the log and still forwarded.
func TestRequestIDAndUserAgent(t *testing.T) {
	for _, c := range []struct {
		head, id, ua string
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: curl/8\r\nx-request-id: edge-1\r\n\r\n", "edge-1", "curl/8"},
		{"GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: one\r\nX-Request-Id: two\r\n\r\n", "", ""},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "", ""},
	} {
		var req Request
		if err := ParseRequest(&req, c.head); err != nil {
			t.Fatal(err)
		}
		if req.RequestID != c.id || req.UserAgent != c.ua {
			t.Errorf("%q: id %q, user agent %q", c.head, req.RequestID, req.UserAgent)
		}
		for _, peer := range []Peer{{IP: "10.0.0.1"}, {IP: "10.0.0.1", Trusted: true, RequestID: []byte("rtr-7")}} {
			var b bytes.Buffer
			bw := bufio.NewWriter(&b)
			WriteRequestHead(bw, &req, peer)
			bw.Flush()
			n := strings.Count(strings.ToLower(b.String()), "x-request-id:")
			switch {
			case peer.RequestID == nil && n != 0:
				t.Errorf("%q: a request id without one chosen:\n%s", c.head, b.String())
			case peer.RequestID != nil && (n != 1 || !strings.Contains(b.String(), "\r\nX-Request-Id: rtr-7\r\n")):
				t.Errorf("%q: want the chosen id once:\n%s", c.head, b.String())
			}
			if c.ua != "" && !strings.Contains(b.String(), "\r\nUser-Agent: "+c.ua+"\r\n") {
				t.Errorf("User-Agent not forwarded:\n%s", b.String())
			}
		}
	}
}
