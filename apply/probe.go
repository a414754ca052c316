package apply

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ehecoatl/ehecoatl/health"
)

// probeTimeout bounds one probe: a connect to a socket-activated instance
// starts it, and the answer waits for the start.
const probeTimeout = 5 * time.Second

// probe checks a restarted instance over its unix socket with the router's
// health check (health.Probe): GET path (health:) must pass, 2xx or 3xx.
// Without a path, GET / answered with any status shows that the app
// accepts connections. A connect alone proves nothing: systemd holds the
// socket and accepts whether the app runs or not.
func probe(ctx context.Context, sock, path, host string) error {
	want := path
	if want == "" {
		want = "/"
	}
	err := health.Probe(ctx, sock, host, want, probeTimeout)
	var se *health.StatusError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		if path == "" {
			return nil
		}
		return fmt.Errorf("GET %s: %d", want, se.Code)
	}
	return fmt.Errorf("GET %s: %w", want, err)
}
