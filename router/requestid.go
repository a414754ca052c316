// Request ids: the X-Request-Id the app gets and the access log records
// (docs/OPERATIONS.md "The router").

package router

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"
)

// RequestID is a request's id: the X-Request-Id a trusted proxy sent
// (Kept), or the router's own, idPrefix, "-" and Seq in hex. It is held
// in parts so that making one costs an atomic add and no allocation; the
// text is assembled where it is written (AppendTo).
type RequestID struct {
	// Kept is the id a trusted proxy sent; "" for the router's own.
	Kept string
	// Seq numbers the router's own ids since the process started; 0 with
	// Kept set, or for no id at all.
	Seq uint64
}

// maxRequestID bounds an id kept from a proxy. Longer ones are replaced:
// an id is a key to search logs by, not a payload (Heroku's router keeps
// up to 200 characters, AWS's load balancers make 35).
const maxRequestID = 128

// idPrefix makes the router's ids unique across restarts and routers: 64
// random bits read once per process, in hex; Seq makes them unique within
// it. No random read per request.
var idPrefix = func() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("router: no randomness for request ids: " + err.Error()) // crypto/rand does not fail on Linux ≥ 3.17
	}
	return hex.EncodeToString(b[:])
}()

var idSeq atomic.Uint64

// newRequestID keeps sent, a request's X-Request-Id, when it came from a
// trusted proxy and is a sane token; otherwise the router makes one.
func newRequestID(sent string, trusted bool) RequestID {
	if trusted && validRequestID(sent) {
		return RequestID{Kept: sent}
	}
	return RequestID{Seq: idSeq.Add(1)}
}

// validRequestID: 1 to maxRequestID visible ASCII characters (no spaces,
// controls or 8-bit bytes), so it can be logged and searched as it is.
func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > maxRequestID {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// AppendTo appends the id's text to b; nothing for the zero id.
func (id RequestID) AppendTo(b []byte) []byte {
	switch {
	case id.Kept != "":
		return append(b, id.Kept...)
	case id.Seq != 0:
		b = append(b, idPrefix...)
		b = append(b, '-')
		return strconv.AppendUint(b, id.Seq, 16)
	}
	return b
}

// String is the id's text, "" for the zero id.
func (id RequestID) String() string {
	if id.Kept != "" {
		return id.Kept
	}
	return string(id.AppendTo(nil))
}

// requestIDBuf holds an id's text: the longest kept one, or the router's
// 16 + 1 + 16 characters.
type requestIDBuf [maxRequestID]byte
