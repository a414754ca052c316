// The router's own answers to a request that could not be forwarded:
// a body that could not be read, an app that did not answer.

package router

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// clientBodyError is a failure to read the request body from the client
// (as opposed to a failure to write it to the app).
type clientBodyError struct{ err error }

func (e *clientBodyError) Error() string { return "reading request body: " + e.err.Error() }
func (e *clientBodyError) Unwrap() error { return e.err }

func isClientBodyError(err error) bool {
	var ce *clientBodyError
	return err == errBodyTooLarge || errors.As(err, &ce)
}

// clientBodyError answers a request whose body could not be read: 413
// over the size limit, 408 when it came too slowly (the deadline of
// bodyReader), 400 otherwise (nothing when the client is gone).
func (rt *Router) clientBodyError(cc *clientConn, req *request, err error) result {
	if err == errBodyTooLarge {
		return cc.simple(req, 413, "413 Request Entity Too Large\n", "")
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return cc.simple(req, 408, "408 Request Timeout: the request body came too slowly\n", "")
	}
	var ne net.Error
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne) {
		return result{status: statusClientGone, close: true}
	}
	return cc.simple(req, 400, "400 Bad Request: malformed body\n", "")
}

// upstreamError answers a request the app did not answer: 503 with
// Retry-After when it is starting (start timeout), overloaded (its socket
// backlog is full) or failed (it could not be reached and systemd gave up
// on it, docs/DESIGN.md "Start limits"), 502 when it is absent or broken.
// startTimeout: the connection was fresh and nothing was read from it.
func (rt *Router) upstreamError(cc *clientConn, req *request, a *appState, err error, startTimeout bool) result {
	a.m.upstream[upstreamKind(err)].Add(1)
	var de *errDial
	switch {
	case startTimeout && errors.Is(err, os.ErrDeadlineExceeded):
		rt.appLogf(a, "no response within the start timeout %s", rt.cfg.StartTimeout)
		return cc.simple(req, 503, "503 Service Unavailable: the app is starting\n", "5")
	case errors.As(err, &de) && errors.Is(err, syscall.EAGAIN):
		return cc.simple(req, 503, "503 Service Unavailable\n", "1")
	case notThere(err, startTimeout) && rt.gaveUp(a):
		rt.appLogf(a, "systemd gave up on the app (a unit failed): 503 until it is fixed or restarted (%v)", err)
		return cc.simple(req, 503, failedBody, failedRetryAfter)
	}
	rt.appLogf(a, "%v", err)
	return cc.simple(req, 502, "502 Bad Gateway\n", "")
}

// heldPage answers the domains of a held app (suspended in its manifest,
// or stopped by the operator; docs/OPERATIONS.md "Stopping and
// suspending"): neutral words, as a visitor may read them, and a
// Retry-After that asks clients and crawlers to come back later rather
// than drop the site.
const (
	heldPage  = "503 Service Unavailable: this site is temporarily unavailable.\n"
	heldRetry = "300"
)
