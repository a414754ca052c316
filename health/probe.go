// Package health is the instance health check of docs/OPERATIONS.md
// "Health checks": Probe, one HTTP GET over an app instance's unix socket,
// which the router runs on an interval and apply can run after a restart,
// and the record of the router's view of every instance that `ehecoatl
// status` reads. A leaf: the CLI links no router.
package health

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Defaults of the checks (docs/OPERATIONS.md "Health checks").
const (
	// Interval between two active probes of an instance.
	Interval = 10 * time.Second
	// Timeout of one probe: connect, request and response head.
	Timeout = 2 * time.Second
	// Passes: consecutive passed probes that bring a down instance up.
	Passes = 2
	// Fails: consecutive failed probes that take an up instance down.
	Fails = 3
	// PassiveFails failed requests (connection errors, 502, 503, 504)
	// within PassiveWindow take an instance down.
	PassiveFails  = 3
	PassiveWindow = 10 * time.Second
	// CoolDown: an instance that cannot be probed (no health: path, or
	// its service does not run) is taken up again after this long down,
	// and the next failed request takes it down again.
	CoolDown = 10 * time.Second
)

// StatusError is Probe's error (errors.As) when the app answered with a
// status outside 200-399.
type StatusError struct{ Code int }

func (e *StatusError) Error() string { return "status " + strconv.Itoa(e.Code) }

// Probe sends GET path with Host: host to the app instance listening on
// the unix socket socketPath, and returns nil when the response status is
// 2xx or 3xx within timeout (and ctx). Only the status line is read.
// Connecting to the socket of a socket-activated instance that is not
// running starts it: callers probe only instances that run.
func Probe(ctx context.Context, socketPath, host, path string, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", socketPath)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ehecoatl-health\r\nConnection: close\r\n\r\n", path, host); err != nil {
		return fmt.Errorf("health: GET %s: %w", path, err)
	}
	line, err := bufio.NewReaderSize(c, 512).ReadString('\n')
	if err != nil {
		return fmt.Errorf("health: GET %s: reading the response: %w", path, err)
	}
	code, err := statusCode(line)
	if err != nil {
		return fmt.Errorf("health: GET %s: %w", path, err)
	}
	if code < 200 || code > 399 {
		return fmt.Errorf("health: GET %s: %w", path, &StatusError{code})
	}
	return nil
}

// statusCode reads the code of an HTTP/1.x status line.
func statusCode(line string) (int, error) {
	proto, rest, ok := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
	if !ok || !strings.HasPrefix(proto, "HTTP/1.") || len(rest) < 3 {
		return 0, fmt.Errorf("not an HTTP/1.x status line: %q", line)
	}
	code, err := strconv.Atoi(rest[:3])
	if err != nil || code < 100 {
		return 0, fmt.Errorf("bad status code in %q", line)
	}
	return code, nil
}
