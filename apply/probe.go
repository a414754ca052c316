package apply

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// probeTimeout bounds one probe: a connect to a socket-activated instance
// starts it, and the answer waits for the start.
const probeTimeout = 5 * time.Second

// probe sends one GET over the instance's unix socket: of path (health:)
// it wants a 2xx answer; without a path, GET / answered at all shows that
// the app accepts connections. A connect alone proves nothing: systemd
// holds the socket and accepts whether the app runs or not. Kept in one
// function, to be merged with the router's health checks.
func probe(ctx context.Context, sock, path, host string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	want := path
	if want == "" {
		want = "/"
	}
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ehecoatl-apply\r\nConnection: close\r\n\r\n", want, host); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", want, err)
	}
	resp.Body.Close()
	if path != "" && (resp.StatusCode < 200 || resp.StatusCode > 299) {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return nil
}
