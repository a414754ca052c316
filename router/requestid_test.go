package router

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// ownID is the shape of the router's own ids: the process's 64-bit
// prefix in hex, a dash, the sequence number in hex.
var ownID = regexp.MustCompile(`^[0-9a-f]{16}-[0-9a-f]+$`)

// appIDs answers with the X-Request-Id values the app got, as JSON.
func appIDs() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		json.NewEncoder(w).Encode(r.Header.Values("X-Request-Id"))
	})
}

// X-Request-Id: a trusted proxy's sane id is kept; an untrusted client's
// and a bad one are replaced by the router's own, as is a missing one.
// The app gets exactly one, and the access log records the same. The
// fixture's clients are 127.0.0.1.
func TestRequestIDForwarded(t *testing.T) {
	long := strings.Repeat("a", maxRequestID)
	for _, c := range []struct {
		name, trusted string
		sent          []string
		keep          bool
	}{
		{"trusted kept", "127.0.0.0/8", []string{"req-7f3a:91/x=y"}, true},
		{"trusted longest kept", "127.0.0.1", []string{long}, true},
		{"untrusted replaced", "10.0.0.0/8", []string{"forged-by-client"}, false},
		{"nobody trusted", "", []string{"forged-by-client"}, false},
		{"trusted too long", "127.0.0.0/8", []string{long + "a"}, false},
		{"trusted with space", "127.0.0.0/8", []string{"a b"}, false},
		{"trusted 8-bit", "127.0.0.0/8", []string{"caf\xc3\xa9"}, false},
		{"trusted empty", "127.0.0.0/8", []string{""}, false},
		{"trusted repeated", "127.0.0.0/8", []string{"one", "two"}, false},
		{"trusted none sent", "127.0.0.0/8", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			tp, err := ParseTrustedProxies(c.trusted)
			if err != nil {
				t.Fatal(err)
			}
			f := newFixture(t, Config{TrustedProxies: tp}, mkSet(app("acme", "web", "/", "acme.test")))
			f.backend("acme", "web", 0, appIDs())
			head := "GET / HTTP/1.1\r\nHost: acme.test\r\n"
			for _, v := range c.sent {
				head += "X-Request-Id: " + v + "\r\n"
			}
			r := f.dialRaw(t)
			var seen []string
			for i := 0; i < 2; i++ { // twice on a connection: an id per request
				r.send(head + "\r\n")
				_, body := r.response("GET")
				var got []string
				if err := json.Unmarshal([]byte(body), &got); err != nil || len(got) != 1 {
					t.Fatalf("the app got X-Request-Id %q (%v), want one", got, err)
				}
				id := got[0]
				switch {
				case c.keep && id != c.sent[0]:
					t.Errorf("the app got %q, want the proxy's %q", id, c.sent[0])
				case !c.keep && !ownID.MatchString(id):
					t.Errorf("the app got %q, want one of the router's", id)
				}
				seen = append(seen, id)
			}
			if !c.keep && seen[0] == seen[1] {
				t.Errorf("two requests, one id %q", seen[0])
			}
			es := f.log.all()
			if len(es) != 2 {
				t.Fatalf("%d access entries", len(es))
			}
			for i, e := range es {
				if e.RequestID.String() != seen[i] {
					t.Errorf("entry %d: request id %q, the app got %q", i, e.RequestID.String(), seen[i])
				}
			}
		})
	}
}

// The same over HTTP/2, whose streams are parsed as HTTP/1.1 heads.
func TestRequestIDH2(t *testing.T) {
	for _, c := range []struct {
		trusted, sent string
		keep          bool
	}{
		{"127.0.0.1", "edge-42", true},
		{"10.0.0.0/8", "edge-42", false},
		{"127.0.0.1", "", false},
	} {
		t.Run(c.trusted+"/"+c.sent, func(t *testing.T) {
			tp, _ := ParseTrustedProxies(c.trusted)
			f, fc := h2Fixture(t, Config{TrustedProxies: tp}, app("acme", "web", "/", "acme.example.com"))
			f.backend("acme", "web", 0, appIDs())
			cl, _ := f.h2Client(fc.pool)
			req, _ := http.NewRequest("GET", "https://acme.example.com/", nil)
			if c.sent != "" {
				req.Header.Set("X-Request-Id", c.sent)
			}
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got []string
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || len(got) != 1 {
				t.Fatalf("the app got X-Request-Id %q (%v), want one", got, err)
			}
			if c.keep && got[0] != c.sent || !c.keep && !ownID.MatchString(got[0]) {
				t.Errorf("the app got %q (sent %q, kept: %v)", got[0], c.sent, c.keep)
			}
			es := f.log.all()
			if len(es) != 1 || es[0].RequestID.String() != got[0] || es[0].Proto != "HTTP/2.0" {
				t.Fatalf("entries %+v, want one with id %q over HTTP/2.0", es, got[0])
			}
		})
	}
}

func TestValidRequestID(t *testing.T) {
	for s, want := range map[string]bool{
		"abc":                               true,
		"0f8e-11aa/22:33=+_~!":              true,
		strings.Repeat("x", maxRequestID):   true,
		strings.Repeat("x", maxRequestID+1): false,
		"":                                  false,
		"a b":                               false,
		"a\tb":                              false,
		"a\x7fb":                            false,
		"\xc3\xa9":                          false,
	} {
		if got := validRequestID(s); got != want {
			t.Errorf("validRequestID(%q) = %v", s, got)
		}
	}
	a, b := newRequestID("", false), newRequestID("x", false)
	if a == b || !ownID.MatchString(a.String()) || !ownID.MatchString(b.String()) {
		t.Errorf("ids %q and %q", a, b)
	}
	if (RequestID{}).String() != "" {
		t.Error("the zero id has text")
	}
	// Making, formatting and keeping ids allocates nothing.
	var buf requestIDBuf
	if n := testing.AllocsPerRun(1000, func() {
		newRequestID("", false).AppendTo(buf[:0])
		newRequestID("edge-1", true).AppendTo(buf[:0])
	}); n != 0 {
		t.Errorf("%v allocations per id", n)
	}
}

// The access entry's new fields, over HTTP/1.1 (with a body), HTTP/1.0
// and HTTPS: bytes both ways as they crossed the connection, the peer,
// the user agent, the protocol and the TLS version.
func TestAccessEntryFields(t *testing.T) {
	f := newFixture(t, Config{}, mkSet(app("acme", "web", "/", "acme.test")))
	f.backend("acme", "web", 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(bytes.Repeat([]byte("z"), 2*len(b)+1))
	}))
	// exchange sends head on a new connection and returns what came back
	// until the router closed it.
	exchange := func(c io.ReadWriter, head string) int {
		io.WriteString(c, head)
		b, _ := io.ReadAll(c)
		if !bytes.HasPrefix(b, []byte("HTTP/1.1 200 ")) {
			t.Fatalf("response %q", b)
		}
		return len(b)
	}
	post := "POST /up HTTP/1.1\r\nHost: acme.test\r\nUser-Agent: curl/8.5.0\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello"
	out := exchange(f.dialRaw(t).c, post)
	get := "GET /x HTTP/1.0\r\nHost: acme.test\r\n\r\n"
	out10 := exchange(f.dialRaw(t).c, get)
	es := f.log.all()
	if len(es) != 2 {
		t.Fatalf("%d entries", len(es))
	}
	if e := es[0]; e.BytesIn != int64(len(post)) || e.BytesOut != int64(out) || e.Client != "127.0.0.1" ||
		e.UserAgent != "curl/8.5.0" || e.Proto != "HTTP/1.1" || e.TLSVersion != 0 {
		t.Errorf("POST entry %+v, want %d bytes in, %d out", e, len(post), out)
	}
	if e := es[1]; e.BytesIn != int64(len(get)) || e.BytesOut != int64(out10) || e.Proto != "HTTP/1.0" || e.UserAgent != "" {
		t.Errorf("GET entry %+v, want %d bytes in, %d out", e, len(get), out10)
	}

	// HTTPS: the TLS version; the bytes are HTTP's, not the TLS records'.
	tf, fc := h2Fixture(t, Config{}, app("acme", "site", "/", "acme.example.com"))
	tf.backend("acme", "site", 0, hello("site"))
	conn, err := tls.Dial("tcp", tf.addr, &tls.Config{RootCAs: fc.pool, ServerName: "acme.example.com", MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	n := exchange(conn, "GET / HTTP/1.1\r\nHost: acme.example.com\r\nConnection: close\r\n\r\n")
	es = tf.log.all()
	if len(es) != 1 || es[0].TLSVersion != tls.VersionTLS12 || es[0].Proto != "HTTP/1.1" || es[0].BytesOut != int64(n) {
		t.Fatalf("HTTPS entries %+v, want TLS 1.2 and %d bytes out", es, n)
	}
	if tlsVersion(es[0].TLSVersion) != "TLSv1.2" || tlsVersion(tls.VersionTLS13) != "TLSv1.3" || tlsVersion(0) != "" {
		t.Error("TLS version names")
	}
}

// What the sinks make of a client's User-Agent: bounded, and readable.
func TestUserAgentSanitized(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes
	for in, want := range map[string]string{
		"Mozilla/5.0 (X11; Linux x86_64)": "Mozilla/5.0 (X11; Linux x86_64)",
		"a\tb":                            "a\uFFFDb",
		"bad \xff byte":                   "bad \uFFFD byte",
		long:                              strings.Repeat("é", maxUserAgent/2),
		strings.Repeat("x", 300):          strings.Repeat("x", maxUserAgent),
	} {
		if got := userAgent(in); got != want {
			t.Errorf("userAgent(%q) = %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { userAgent("curl/8.5.0") }); n != 0 {
		t.Errorf("a clean user agent costs %v allocations", n)
	}
}

// The text sink prints every field, client-chosen text quoted.
func TestTextAccessLogFields(t *testing.T) {
	var buf bytes.Buffer
	l := NewAccessLog(&buf)
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	l.Log(AccessEntry{Time: at, Tenant: "acme", App: "web", Method: "GET", Host: "acme.test", Path: "/", Status: 200,
		Duration: 1500 * time.Microsecond, BytesIn: 78, BytesOut: 1234, Client: "192.0.2.1", UserAgent: "curl/8.5.0 \"x\"",
		Proto: "HTTP/2.0", TLSVersion: tls.VersionTLS13, RequestID: RequestID{Kept: "edge-1"}})
	l.Log(AccessEntry{Time: at, Status: 400, Client: "2001:db8::1", RequestID: RequestID{Seq: 255}})
	l.Close()
	want := `2026-12-01T12:00:00.000Z tenant=acme app=web method=GET host=acme.test path=/ status=200 duration_ms=1.500 bytes_in=78 bytes_out=1234 client=192.0.2.1 proto=HTTP/2.0 tls=TLSv1.3 request_id=edge-1 user_agent="curl/8.5.0 \"x\""` + "\n" +
		`2026-12-01T12:00:00.000Z method="" host="" path="" status=400 duration_ms=0.000 bytes_in=0 bytes_out=0 client=2001:db8::1 request_id=` + idPrefix + "-ff\n"
	if buf.String() != want {
		t.Errorf("text log:\n%s\nwant:\n%s", buf.String(), want)
	}
}
