// Package wire is the router's HTTP/1.1 codec: it reads and parses a
// client's request head, scans an app's response head, writes the heads
// the router forwards, and frames chunked bodies. It holds no connection
// state and does no I/O of its own beyond the bufio.Reader and
// bufio.Writer it is handed, so it can be tested and fuzzed alone
// (fuzz_test.go checks it against net/http's parsers).
//
// It is hand-written rather than net/http's because, measured on the
// target machines, a Request and a header map per request cost about as
// much CPU as the rest of the router together (see package router). Every
// string a parsed Request holds slices its head; a response is scanned in
// place in the reader's buffer.
//
// Parsing is strict where a lenient reading could let the router and an
// app disagree about where a request ends (request smuggling): differing
// or malformed Content-Lengths, Content-Length with Transfer-Encoding,
// codings other than chunked, obsolete line folding, control characters,
// bad field names and a missing, repeated or malformed Host are refused.
package wire
