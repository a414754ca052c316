// The byte tunnel of an upgraded connection (WebSocket).

package router

import (
	"io"
	"time"
)

// tunnel completes an upgrade (WebSocket): after the 101 head it copies
// bytes both ways until the app closes, or the client closes and the app
// finishes. The tunnel counts as in flight for the app. The client
// connection ends with it.
func (rt *Router) tunnel(cc *clientConn, c *uconn) result {
	defer c.c.Close()
	if cc.bw.Flush() != nil {
		return result{status: 101, close: true}
	}
	cc.c.SetDeadline(time.Time{})
	c.c.SetDeadline(time.Time{})
	// No timeout from here on: keep-alive probes find a client that
	// vanished without closing (accept.go sets none on connections).
	keepAliveProbes(cc.raw)
	// An app that closes is done with the connection, so that ends the
	// tunnel (as nginx does); a client that half-closes may still receive.
	done := make(chan struct{})
	go func() {
		n, _ := io.Copy(c.c, cc.br) // what the client already sent, then the rest
		cc.bodyIn.Add(n)
		c.c.CloseWrite()
		close(done)
	}()
	n, _ := io.Copy(cc.c, c.br)
	cc.written += n
	cc.c.Close()
	c.c.Close()
	<-done
	return result{status: 101, close: true}
}
