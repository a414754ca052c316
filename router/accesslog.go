package router

import (
	"bufio"
	"crypto/tls"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coreos/go-systemd/v22/journal"
)

// AccessEntry is one request, as logged.
type AccessEntry struct {
	Time time.Time
	// Tenant and App are "" when no route matched (404).
	Tenant, App        string
	Method, Host, Path string
	Status             int
	Duration           time.Duration
	// BytesIn and BytesOut are what the request took from and gave to the
	// client: heads and bodies (for HTTP/2, the heads in their HTTP/1.1
	// form: HPACK and framing are not counted), the bytes a tunnel
	// (WebSocket) carried included.
	BytesIn, BytesOut int64
	// Client is the TCP peer's address: a trusted proxy's when one is in
	// front (the client's is then in the X-Forwarded-For the app gets).
	Client string
	// UserAgent is as the client sent it; the sinks bound and sanitize it.
	UserAgent string
	// Proto is "HTTP/1.0", "HTTP/1.1" or "HTTP/2.0" ("" for a request
	// whose head could not be parsed).
	Proto string
	// TLSVersion is the connection's (tls.VersionTLS13, ...), 0 without
	// TLS.
	TLSVersion uint16
	// RequestID is the X-Request-Id the app got (requestid.go).
	RequestID RequestID
}

// AccessLogger receives one entry per request. Log is called on the
// request path and must not block.
type AccessLogger interface {
	Log(e AccessEntry)
}

// DiscardAccessLog drops every entry (`ehecoatl-router --access-log off`).
type DiscardAccessLog struct{}

// Log does nothing.
func (DiscardAccessLog) Log(AccessEntry) {}

// AsyncAccessLog hands entries to a goroutine through a buffered channel,
// so the request path never waits for the journal or a pipe. When the
// buffer is full (the journal cannot keep up) entries are dropped and
// counted, and the count is logged: a slow log never slows the data plane.
type AsyncAccessLog struct {
	ch      chan AccessEntry
	dropped atomic.Int64
	// droppedTotal counts every drop since the start, for the metrics
	// (dropped is reset when the drops are logged).
	droppedTotal atomic.Uint64
	stop         chan struct{}
	done         chan struct{}
	once         sync.Once
	sink         accessSink
}

var _ AccessLogger = (*AsyncAccessLog)(nil)

type accessSink interface {
	write(e *AccessEntry)
	note(msg string)
	flush()
}

// AccessMessageID is the MESSAGE_ID of every access log entry in the
// journal, so `journalctl MESSAGE_ID=...` selects them; made once with
// `systemd-id128 new` (packaging/catalog/ehecoatl.catalog describes it).
const AccessMessageID = "7b4f93a6b3b44bac96aeeae589585397"

// maxUserAgent bounds the User-Agent an entry holds, in bytes.
const maxUserAgent = 256

// NewAccessLog returns an async access log writing to w in logfmt, or,
// with w nil, to the journal (fields MESSAGE_ID, EHECOATL_TENANT,
// EHECOATL_APP, STATUS, DURATION_MS, HOST, PATH, METHOD, BYTES_IN,
// BYTES_OUT, CLIENT_ADDRESS, USER_AGENT, PROTOCOL, TLS_VERSION,
// REQUEST_ID; docs/OPERATIONS.md "The router") when its socket exists and
// to stderr otherwise.
func NewAccessLog(w io.Writer) *AsyncAccessLog {
	var s accessSink
	switch {
	case w != nil:
		s = &textSink{w: bufio.NewWriterSize(w, 64<<10)}
	case journal.Enabled():
		s = &journalSink{vars: map[string]string{}}
	default:
		s = &textSink{w: bufio.NewWriterSize(os.Stderr, 64<<10)}
	}
	l := &AsyncAccessLog{ch: make(chan AccessEntry, 8192), stop: make(chan struct{}), done: make(chan struct{}), sink: s}
	go l.run()
	return l
}

// Log queues e; it never blocks.
func (l *AsyncAccessLog) Log(e AccessEntry) {
	select {
	case l.ch <- e:
	default:
		l.dropped.Add(1)
		l.droppedTotal.Add(1)
	}
}

// Dropped is the number of entries dropped since the log started.
func (l *AsyncAccessLog) Dropped() uint64 { return l.droppedTotal.Load() }

// Close writes what is queued and stops the goroutine.
func (l *AsyncAccessLog) Close() {
	l.once.Do(func() { close(l.stop) })
	<-l.done
}

func (l *AsyncAccessLog) run() {
	defer close(l.done)
	for {
		select {
		case e := <-l.ch:
			l.sink.write(&e)
			for n := len(l.ch); n > 0; n-- { // drain a burst, then flush once
				e = <-l.ch
				l.sink.write(&e)
			}
			if d := l.dropped.Swap(0); d > 0 {
				l.sink.note(strconv.FormatInt(d, 10) + " access log entries dropped: the log could not keep up")
			}
			l.sink.flush()
		case <-l.stop:
			for n := len(l.ch); n > 0; n-- {
				e := <-l.ch
				l.sink.write(&e)
			}
			l.sink.flush()
			return
		}
	}
}

// journalSink sends entries with journal.Send (native protocol, pure Go).
type journalSink struct {
	vars map[string]string
	buf  []byte
}

func (s *journalSink) write(e *AccessEntry) {
	s.fields(e)
	s.buf = appendMessage(s.buf[:0], e)
	journal.Send(string(s.buf), journal.PriInfo, s.vars)
}

// fields sets s.vars to e's fields.
func (s *journalSink) fields(e *AccessEntry) {
	clear(s.vars)
	s.vars["MESSAGE_ID"] = AccessMessageID
	if e.Tenant != "" {
		s.vars["EHECOATL_TENANT"] = e.Tenant
		s.vars["EHECOATL_APP"] = e.App
	}
	s.vars["STATUS"] = strconv.Itoa(e.Status)
	s.vars["DURATION_MS"] = durationMS(e.Duration)
	s.vars["HOST"] = e.Host
	s.vars["PATH"] = e.Path
	s.vars["METHOD"] = e.Method
	s.vars["BYTES_IN"] = strconv.FormatInt(e.BytesIn, 10)
	s.vars["BYTES_OUT"] = strconv.FormatInt(e.BytesOut, 10)
	s.vars["CLIENT_ADDRESS"] = e.Client
	if e.UserAgent != "" {
		s.vars["USER_AGENT"] = userAgent(e.UserAgent)
	}
	if e.Proto != "" {
		s.vars["PROTOCOL"] = e.Proto
	}
	if v := tlsVersion(e.TLSVersion); v != "" {
		s.vars["TLS_VERSION"] = v
	}
	if id := e.RequestID.String(); id != "" {
		s.vars["REQUEST_ID"] = id
	}
}

func (s *journalSink) note(msg string) { journal.Send(msg, journal.PriWarning, nil) }
func (s *journalSink) flush()          {}

// textSink writes one logfmt line per entry.
type textSink struct {
	w   *bufio.Writer
	buf []byte
}

func (s *textSink) write(e *AccessEntry) {
	b := e.Time.AppendFormat(s.buf[:0], "2006-01-02T15:04:05.000Z07:00")
	if e.Tenant != "" {
		b = append(b, " tenant="...)
		b = appendValue(b, e.Tenant)
		b = append(b, " app="...)
		b = appendValue(b, e.App)
	}
	b = append(b, " method="...)
	b = appendValue(b, e.Method)
	b = append(b, " host="...)
	b = appendValue(b, e.Host)
	b = append(b, " path="...)
	b = appendValue(b, e.Path)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, " duration_ms="...)
	b = append(b, durationMS(e.Duration)...)
	b = append(b, " bytes_in="...)
	b = strconv.AppendInt(b, e.BytesIn, 10)
	b = append(b, " bytes_out="...)
	b = strconv.AppendInt(b, e.BytesOut, 10)
	b = append(b, " client="...)
	b = appendValue(b, e.Client)
	if e.Proto != "" {
		b = append(b, " proto="...)
		b = append(b, e.Proto...)
	}
	if v := tlsVersion(e.TLSVersion); v != "" {
		b = append(b, " tls="...)
		b = append(b, v...)
	}
	if e.RequestID != (RequestID{}) {
		b = append(b, " request_id="...)
		if e.RequestID.Kept != "" {
			b = appendValue(b, e.RequestID.Kept) // visible ASCII, but may hold a quote
		} else {
			b = e.RequestID.AppendTo(b)
		}
	}
	if e.UserAgent != "" {
		b = append(b, " user_agent="...)
		b = appendValue(b, userAgent(e.UserAgent))
	}
	b = append(b, '\n')
	s.buf = b
	s.w.Write(b)
}

func (s *textSink) note(msg string) { s.w.WriteString("warning: " + msg + "\n") }
func (s *textSink) flush()          { s.w.Flush() }

func appendMessage(b []byte, e *AccessEntry) []byte {
	if e.Tenant != "" {
		b = append(b, e.Tenant...)
		b = append(b, '/')
		b = append(b, e.App...)
		b = append(b, ' ')
	}
	b = appendValue(b, e.Method)
	b = append(b, ' ')
	b = appendValue(b, e.Host+e.Path)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, ' ')
	b = append(b, durationMS(e.Duration)...)
	b = append(b, "ms"...)
	return b
}

// appendValue appends v, quoted when it holds spaces, quotes, control
// characters or invalid UTF-8 (client-controlled text cannot forge lines).
func appendValue(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c <= ' ' || c == '"' || c == '\\' || c == 0x7f || c >= utf8.RuneSelf {
			return strconv.AppendQuote(b, v)
		}
	}
	if v == "" {
		return append(b, `""`...)
	}
	return append(b, v...)
}

// durationMS formats d in milliseconds with microsecond precision.
func durationMS(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 3, 64)
}

// userAgent is ua as logged: at most maxUserAgent bytes (cut at a
// character's start), invalid UTF-8 and control characters (a tab;
// the parser refuses the others) as U+FFFD. A client chooses it, so it
// must not make entries large or unreadable.
func userAgent(ua string) string {
	clean := len(ua) <= maxUserAgent
	for i := 0; clean && i < len(ua); i++ {
		if c := ua[i]; c < ' ' || c >= 0x7f {
			clean = false
		}
	}
	if clean {
		return ua
	}
	b := make([]byte, 0, min(len(ua), maxUserAgent))
	for _, r := range ua {
		if r < ' ' || r == 0x7f || r >= 0x80 && r < 0xa0 {
			r = utf8.RuneError
		}
		if len(b)+utf8.RuneLen(r) > maxUserAgent {
			break
		}
		b = utf8.AppendRune(b, r)
	}
	return string(b)
}

// tlsVersion names a TLS version as nginx's $ssl_protocol does; "" for
// none.
func tlsVersion(v uint16) string {
	switch v {
	case 0:
		return ""
	case tls.VersionTLS13:
		return "TLSv1.3"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS10:
		return "TLSv1"
	}
	return "0x" + strconv.FormatUint(uint64(v), 16)
}
