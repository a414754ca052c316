// One request/response with an app: choosing a worker, writing the
// request, reading the response head, relaying it, returning the
// connection to the pool or closing it.

package router

import (
	"bytes"
	"errors"
	"io"
	"time"

	"github.com/ehecoatl/ehecoatl/router/wire"
)

// inlineBody: request bodies of known length up to this size are written
// before the response is read, on the connection's goroutine (they fit the
// socket buffer). Larger and chunked bodies are sent from a goroutine while
// the response is read, so an app may answer (or stream) before it has
// consumed the whole body.
const inlineBody = 64 << 10

var (
	errBodyTooLarge = errors.New("request body too large")
	errBadResponse  = wire.ErrBadResponse // one error for every unusable response
	errHeaderTooBig = errors.New("response head from app too large")
	errClientGone   = errors.New("client went away")
	aLongTimeAgo    = time.Unix(1, 0)
)

// statusClientGone is logged when the client left before the response.
const statusClientGone = 499

// result of one request, for the access log and the connection loop.
type result struct {
	status int
	// close: the client connection must be closed (a response could not
	// be completed, a body was left unread, or the client asked).
	close bool
}

// forward sends req to one worker of a that is up and relays the
// response; a connect that fails (nothing was sent) is tried once on
// another worker. The outcome counts for the worker's health (health.go).
func (rt *Router) forward(cc *clientConn, req *request, a *appState) result {
	up := rt.ready(a, nil)
	if up == nil {
		body, retry := rt.allDown(a)
		return cc.simple(req, 503, body, retry)
	}
	res, derr := rt.forwardTo(cc, req, a, up, len(a.ups) > 1)
	if derr != nil {
		rt.failure(a, up, 0, derr)
		alt := rt.ready(a, up)
		if alt == nil {
			return rt.upstreamError(cc, req, a, derr, false)
		}
		up = alt
		res, _ = rt.forwardTo(cc, req, a, up, false)
	}
	rt.observe(a, up, res.status)
	return res
}

// forwardTo forwards req to up. With handBack a failed connect is
// returned as derr with nothing answered, for forward to try elsewhere.
func (rt *Router) forwardTo(cc *clientConn, req *request, a *appState, up *upstream, handBack bool) (res result, derr error) {
	defer up.active.Add(-1)

	since := rt.coldSince(a, up)
	c, err := up.get()
	if err != nil {
		if handBack {
			return result{}, err
		}
		return rt.upstreamError(cc, req, a, err, false), nil
	}
	c.coldSince = since
	res, retry := rt.exchange(cc, req, a, c, req.ContentLength != 0)
	return rt.retried(cc, req, a, up, res, retry, since, handBack)
}

// retried finishes a forward whose first exchange asked for a retry: a
// pooled connection the app had closed, so the request was not processed
// and is sent again on a fresh connection, once, when it may be repeated.
func (rt *Router) retried(cc *clientConn, req *request, a *appState, up *upstream, res result, retry bool, since int64, handBack bool) (result, error) {
	hasBody := req.ContentLength != 0
	replayable := !hasBody && req.Upgrade == "" &&
		(req.Method == "GET" || req.Method == "HEAD" || req.Method == "OPTIONS" || req.Method == "TRACE")
	for attempt := 0; retry; attempt++ {
		if !replayable || attempt > 0 {
			return rt.upstreamError(cc, req, a, errBadResponse, false), nil
		}
		c, err := up.dial()
		if err != nil {
			if handBack {
				return result{}, err
			}
			return rt.upstreamError(cc, req, a, err, false), nil
		}
		c.coldSince = since
		res, retry = rt.exchange(cc, req, a, c, hasBody)
	}
	return res, nil
}

// exchange runs one request/response on c. retry is true when c was a
// pooled connection that failed before anything was read from it.
func (rt *Router) exchange(cc *clientConn, req *request, a *appState, c *uconn, hasBody bool) (res result, retry bool) {
	fresh := !c.reused
	// A body read whole already leaves the client connection free to be
	// watched, as for a request without one.
	c.begin(cc, hasBody && !req.bodyDone)
	now := time.Now()
	if fresh && rt.cfg.StartTimeout > 0 {
		c.startDeadline = now.Add(rt.cfg.StartTimeout)
	}
	c.armRead(now)
	wire.WriteRequestHead(c.bw, &req.Request, wire.Peer{IP: cc.ip, TLS: cc.tls, Trusted: cc.trusted, RequestID: cc.reqID.AppendTo(cc.idBuf[:0])})

	var body *bodySender
	var werr error
	switch {
	case !hasBody || req.bodyDone:
		// The response's first read writes it (uconnReader): the wait for
		// the answer then starts without a read that finds nothing.
		if hasBody {
			c.bw.Write(req.body)
		}
		c.werr, c.sendPending = nil, true
	default:
		if req.ExpectContinue {
			cc.armWrite()
			cc.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			cc.bw.Flush()
		}
		if req.bodyRest != nil {
			src := io.MultiReader(bytes.NewReader(req.body), req.bodyRest)
			body = startBody(c, src, req.ContentLength < 0, rt.cfg.MaxBodyBytes)
		} else if req.ContentLength > 0 && req.ContentLength <= inlineBody {
			werr = sendBody(c.bw, newBodyReader(cc, req.ContentLength), false, 0, nil)
			if isClientBodyError(werr) {
				c.disarm()
				c.c.Close()
				return rt.clientBodyError(cc, req, werr), false
			}
		} else {
			body = startBody(c, newBodyReader(cc, req.ContentLength), req.ContentLength < 0, rt.cfg.MaxBodyBytes)
		}
	}
	if werr != nil && !hasBody {
		c.disarm()
		c.c.Close()
		if c.reused {
			return result{}, true
		}
		return rt.upstreamError(cc, req, a, werr, false), false
	}
	// With a failed body write, still read: the app may have answered early.
	return rt.exchangeRest(cc, req, a, c, hasBody, body, fresh)
}

// exchangeRest is exchange once the request is on its way: it reads the
// response head and relays the response. A loop hands an exchange over
// here when the response is one it does not relay itself (loopapp.go).
func (rt *Router) exchangeRest(cc *clientConn, req *request, a *appState, c *uconn, hasBody bool, body *bodySender, fresh bool) (res result, retry bool) {
	block, rh, err := readResponseHead(c, req.Method == "HEAD")
	if werr := c.werr; werr != nil && !hasBody {
		c.disarm()
		c.c.Close()
		if c.reused {
			return result{}, true
		}
		return rt.upstreamError(cc, req, a, werr, false), false
	}
	if err != nil {
		gone := c.disarm()
		c.c.Close()
		if body != nil {
			if berr := <-body.done; isClientBodyError(berr) {
				return rt.clientBodyError(cc, req, berr), false
			}
		}
		if gone || errors.Is(err, errClientGone) {
			return result{status: statusClientGone, close: true}, false
		}
		if c.reused && rh.nothingRead && !hasBody {
			return result{}, true
		}
		return rt.upstreamError(cc, req, a, err, fresh && rh.nothingRead), false
	}
	if c.coldSince != 0 || c.up.warm.Load() != warmYes {
		rt.answered(a, c.up, c.coldSince)
		c.coldSince = 0
	}

	if rh.Status == 101 {
		if c.disarm() || req.Upgrade == "" {
			c.c.Close()
			return rt.upstreamError(cc, req, a, errBadResponse, false), false
		}
		cc.armWrite()
		rh.clPassed = wire.WriteResponseHead(cc.bw, block, &rh.Response, false, false, false)
		c.br.Discard(len(block))
		return rt.tunnel(cc, c), false
	}

	closeClient := req.Close || cc.srv.shutdown.Load() || body != nil && !body.eof.Load()
	chunkOut := false
	if !rh.NoBody && rh.Length < 0 {
		if req.HTTP10 {
			closeClient = true // the body ends with the connection
		} else {
			chunkOut = true
		}
	}
	cc.armWrite()
	if cc.hsts {
		rh.Extra = hstsField
	}
	rh.clPassed = wire.WriteResponseHead(cc.bw, block, &rh.Response, closeClient, req.HTTP10 && !closeClient, chunkOut)
	c.br.Discard(len(block))
	complete, cerr := copyBody(cc, c, &rh, chunkOut)
	reusable := complete && !rh.Close
	if body != nil {
		// An unfinished body closes the client connection too.
		reusable = body.finish(c, func() {
			closeClient = true
			cc.dl = time.Time{}
			cc.c.SetReadDeadline(aLongTimeAgo)
		}) && reusable
	}
	if c.disarm() || !reusable {
		c.c.Close()
	} else {
		c.up.put(c)
	}
	if cerr != nil {
		if !errors.Is(cerr, errClientGone) {
			rt.appLogf(a, "%s: response body: %v", c.up.path, cerr)
		}
		return result{status: rh.Status, close: true}, false
	}
	return result{status: rh.Status, close: closeClient}, false
}
