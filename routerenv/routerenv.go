// Package routerenv reads the settings of /etc/default/ehecoatl-router that
// programs other than the router act on: EHECOATL_METRICS_LISTEN, the
// address of the router's metrics socket, which the boot-time generator
// turns into ehecoatl-router-metrics.socket and `ehecoatl doctor` checks
// (docs/METRICS.md). One parser for both, so that what doctor accepts is
// what the generator writes.
package routerenv

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

const (
	// Path is the router's settings file (EnvironmentFile= of
	// ehecoatl-router.service).
	Path = "/etc/default/ehecoatl-router"
	// MetricsVar holds the metrics socket's address, or off.
	MetricsVar = "EHECOATL_METRICS_LISTEN"
	// DefaultMetrics is the address when MetricsVar is unset or empty:
	// local only (docs/METRICS.md).
	DefaultMetrics = "127.0.0.1:9808"
)

// Metrics is the metrics socket's setting.
type Metrics struct {
	// Off: no socket (MetricsVar=off).
	Off bool
	// Addr is where it listens, when not Off.
	Addr netip.AddrPort
}

// ListenStream is the address as a socket unit's ListenStream= takes it.
func (m Metrics) ListenStream() string { return m.Addr.String() }

// Error is a bad MetricsVar: where it is, what is wrong and what to write.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// Hint says what a good value looks like.
const Hint = MetricsVar + `="127.0.0.1:9808" (ADDRESS:PORT, [IPV6]:PORT) or ` + MetricsVar + `="off"`

// ReadMetrics reads MetricsVar from root+Path ("" is the real root). A
// missing file or variable is the default; a bad value is an *Error.
func ReadMetrics(root string) (Metrics, error) {
	return ReadMetricsFile(filepath.Join(root, Path))
}

// ReadMetricsFile is ReadMetrics of the file at p (Path below a root).
func ReadMetricsFile(p string) (Metrics, error) {
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return ParseMetrics("")
	}
	if err != nil {
		return Metrics{}, err
	}
	v, line, err := lookup(string(b), MetricsVar)
	if err != nil {
		return Metrics{}, &Error{File: Path, Line: line, Msg: err.Error()}
	}
	m, err := ParseMetrics(v)
	if err != nil {
		return Metrics{}, &Error{File: Path, Line: line, Msg: err.Error()}
	}
	return m, nil
}

// ParseMetrics parses a value of MetricsVar: "" is DefaultMetrics, "off"
// no socket, else an IP address and a port. A host name is refused (the
// socket binds an address, before any resolver runs at boot), and so is a
// bare port (it would listen on every address of the host).
func ParseMetrics(v string) (Metrics, error) {
	switch v {
	case "":
		v = DefaultMetrics
	case "off":
		return Metrics{Off: true}, nil
	}
	if _, err := strconv.ParseUint(v, 10, 16); err == nil {
		return Metrics{}, fmt.Errorf("%s=%q is a bare port, which would listen on every address: write the address too, e.g. 127.0.0.1:%s", MetricsVar, v, v)
	}
	ap, err := netip.ParseAddrPort(v)
	if err != nil {
		return Metrics{}, fmt.Errorf("%s=%q is not ADDRESS:PORT ([ADDRESS]:PORT for IPv6) or off", MetricsVar, v)
	}
	switch {
	case ap.Port() == 0:
		return Metrics{}, fmt.Errorf("%s=%q: port 0 is no fixed port for Prometheus to scrape", MetricsVar, v)
	case ap.Addr().Zone() != "":
		return Metrics{}, fmt.Errorf("%s=%q: an address with a zone is not supported", MetricsVar, v)
	}
	return Metrics{Addr: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}, nil
}

// lookup finds the last assignment of key in an environment file as
// systemd reads it (systemd.exec(5) EnvironmentFile=: KEY=VALUE lines,
// # and ; comments, the value in single or double quotes or bare) and
// returns its value and line (0 when unset).
func lookup(data, key string) (value string, line int, err error) {
	for i, l := range strings.Split(data, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || l[0] == '#' || l[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok || strings.TrimSpace(k) != key {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') {
			if v[len(v)-1] != v[0] {
				return "", i + 1, fmt.Errorf("%s: the quote is not closed", key)
			}
			v = v[1 : len(v)-1]
		}
		value, line = v, i+1
	}
	return value, line, nil
}
