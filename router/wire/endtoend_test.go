package wire

import (
	"bufio"
	"strings"
	"testing"
)

// EndToEnd yields exactly the fields WriteResponseHead passes on (the
// router's own framing and connection fields aside), so an HTTP/2 stream
// and an HTTP/1.1 client get the same fields.
func TestEndToEndMatchesWriteResponseHead(t *testing.T) {
	for _, head := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\nConnection: close, X-Drop\r\nX-Drop: 1\r\nKeep-Alive: t=5\r\nTE: x\r\nTrailer: y\r\nProxy-Authenticate: z\r\nUpgrade: h2c\r\nX-Keep:  a b \r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\nContent-Type: text/plain\r\n\r\n",
	} {
		var rh Response
		if err := ScanResponse(&rh, []byte(head), false); err != nil {
			t.Fatalf("%q: %v", head, err)
		}
		var got []string
		EndToEnd([]byte(head), &rh, func(name, value []byte) { got = append(got, string(name)+": "+string(value)) })
		var b strings.Builder
		bw := bufio.NewWriter(&b)
		WriteResponseHead(bw, []byte(head), &rh, false, false, false)
		bw.Flush()
		lines := strings.Split(strings.TrimSuffix(b.String(), "\r\n\r\n"), "\r\n")[1:]
		if strings.Join(got, "\n") != strings.Join(lines, "\n") {
			t.Errorf("%q:\nEndToEnd:\n%s\nWriteResponseHead:\n%s", head, strings.Join(got, "\n"), strings.Join(lines, "\n"))
		}
		if len(got) == 0 {
			t.Errorf("%q: no field passed", head)
		}
	}
}
