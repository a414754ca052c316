package router

import (
	"bufio"
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
	// BytesIn and BytesOut are what the request took from the client and
	// sent it, heads and bodies (over HTTP/2, heads as their HTTP/1.1
	// form): docs/METRICS.md.
	BytesIn, BytesOut int64
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

// NewAccessLog returns an async access log writing to w in logfmt, or,
// with w nil, to the journal (fields EHECOATL_TENANT, EHECOATL_APP,
// STATUS, DURATION_MS, HOST, PATH, METHOD) when its socket exists and to
// stderr otherwise.
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
	clear(s.vars)
	if e.Tenant != "" {
		s.vars["EHECOATL_TENANT"] = e.Tenant
		s.vars["EHECOATL_APP"] = e.App
	}
	s.vars["STATUS"] = strconv.Itoa(e.Status)
	s.vars["DURATION_MS"] = durationMS(e.Duration)
	s.vars["HOST"] = e.Host
	s.vars["PATH"] = e.Path
	s.vars["METHOD"] = e.Method
	s.buf = appendMessage(s.buf[:0], e)
	journal.Send(string(s.buf), journal.PriInfo, s.vars)
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
