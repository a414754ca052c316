// Package dbus talks to systemd over D-Bus for ehecoatl's apply, status,
// start/stop/restart and the router: daemon-reload, jobs that wait for their
// result, unit listings and unit properties.
//
// It wraps github.com/coreos/go-systemd/v22/dbus, which tracks job results
// (JobRemoved signals), and uses the underlying godbus connection directly for
// typed property reads, so that values systemd reports as "[not set]"
// (UINT64_MAX) become nil instead of 18446744073709551615.
//
// Tests run against a fake systemd on a private dbus-daemon
// (internal/fakesystemd); the real systemd is exercised by tests/.
package dbus
