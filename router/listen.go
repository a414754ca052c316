package router

import (
	"fmt"
	"log/slog"
	"net"
	"sort"

	"github.com/coreos/go-systemd/v22/activation"
)

// Listeners are the sockets the router serves.
type Listeners struct {
	// HTTP are plain HTTP listeners (FileDescriptorName=http, or unnamed).
	HTTP []net.Listener
	// HTTPS are the listeners of FileDescriptorName=https, served with TLS.
	HTTPS []net.Listener
	// Metrics are the listeners of FileDescriptorName=metrics
	// (ehecoatl-router-metrics.socket), served by ServeMetrics: /metrics
	// only, never a tenant's route.
	Metrics []net.Listener
}

// ActivationListeners takes the sockets systemd passed (LISTEN_FDS,
// sd_listen_fds(3)) and sorts them by FileDescriptorName=: "http" and
// unnamed ones serve plain HTTP, "https" ones HTTPS, "metrics" ones the
// metrics (docs/METRICS.md). ok is false when systemd passed no socket
// to serve requests on (a metrics socket alone does not count).
func ActivationListeners(log *slog.Logger) (ls Listeners, ok bool, err error) {
	named, err := activation.ListenersWithNames()
	if err != nil {
		return ls, false, fmt.Errorf("router: socket activation: %w", err)
	}
	names := make([]string, 0, len(named))
	for n := range named {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, l := range named[name] {
			if name == "metrics" {
				ls.Metrics = append(ls.Metrics, l)
				continue
			}
			ok = true
			switch {
			case name == "https":
				ls.HTTPS = append(ls.HTTPS, l)
			default:
				if name != "http" {
					log.Info("serving plain HTTP on an activated socket without the name http", "name", name, "addr", l.Addr().String())
				}
				ls.HTTP = append(ls.HTTP, l)
			}
		}
	}
	return ls, ok, nil
}
