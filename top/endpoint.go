package top

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
)

// The metrics listener's setting (docs/METRICS.md): in the router's
// settings file, ADDRESS:PORT, [ADDRESS]:PORT or off; unset or empty is
// DefaultListen.
const (
	ListenVar     = "EHECOATL_METRICS_LISTEN"
	DefaultListen = "127.0.0.1:9808"
	SettingsFile  = "/etc/default/ehecoatl-router"
)

// ErrOff: the setting turns the endpoint off.
var ErrOff = errors.New("the router's metrics endpoint is off")

// EndpointURL is the URL of the router's /metrics as the settings file at
// path (SettingsFile below the root) sets it; a missing file is the
// default. A wildcard address (0.0.0.0, ::, none) is reached on loopback.
func EndpointURL(path string) (string, error) {
	listen, err := setting(path, ListenVar)
	if err != nil {
		return "", err
	}
	if listen == "" {
		listen = DefaultListen
	}
	if listen == "off" {
		return "", fmt.Errorf("%w (%s=off in %s)", ErrOff, ListenVar, path)
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("%s=%q in %s: %w", ListenVar, listen, path, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/metrics", nil
}

// setting reads name from an environment file as systemd's
// EnvironmentFile= does for simple lines: NAME=VALUE, the value perhaps in
// single or double quotes, # comments. The last assignment wins.
func setting(path, name string) (string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	var v string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		k, val, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) != name {
			continue
		}
		val = strings.TrimSpace(val)
		if n := len(val); n >= 2 && (val[0] == '"' || val[0] == '\'') && val[n-1] == val[0] {
			val = val[1 : n-1]
		}
		v = strings.TrimSpace(val)
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return v, nil
}
