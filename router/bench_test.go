package router

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// benchGet runs b.N GETs with parallel clients against url (via c).
func benchGet(b *testing.B, c *http.Client, host, url string) {
	b.SetParallelism(8)
	var fails atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("GET", url, nil)
			req.Host = host
			resp, err := c.Do(req)
			if err != nil {
				fails.Add(1)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				fails.Add(1)
			}
		}
	})
	if n := fails.Load(); n > 0 {
		b.Fatalf("%d failed requests", n)
	}
}

// unixClient sends every request to the unix socket path.
func unixClient(tb testing.TB, path string) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConnsPerHost: 512,
		DisableCompression:  true,
	}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// BenchmarkForward compares requests through the router with requests
// straight to the same backend (both over TCP from the client, the
// backend on a unix socket); it prints the throughput ratio.
func BenchmarkForward(b *testing.B) {
	f := newFixture(b, Config{AccessLog: discardLog{}}, mkSet(app("acme", "web", "/", "acme.test")))
	f.backend("acme", "web", 0, hello("web"))
	var nsRouter, nsDirect float64
	b.Run("router", func(b *testing.B) {
		c := f.client()
		start := time.Now()
		benchGet(b, c, "acme.test", "http://acme.test/")
		nsRouter = float64(time.Since(start).Nanoseconds()) / float64(b.N)
	})
	b.Run("direct", func(b *testing.B) {
		c := unixClient(b, f.runDir+"/acme/web.sock")
		start := time.Now()
		benchGet(b, c, "acme.test", "http://acme.test/")
		nsDirect = float64(time.Since(start).Nanoseconds()) / float64(b.N)
	})
	if nsRouter > 0 && nsDirect > 0 {
		fmt.Printf("forward: router %.0f req/s, direct %.0f req/s, ratio router/direct %.2f\n", 1e9/nsRouter, 1e9/nsDirect, nsDirect/nsRouter)
	}
}
