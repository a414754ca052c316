package tests

import (
	"strings"
	"testing"
)

// TestControlPortApp: start, stop and restart of a port: app, whose app
// service is StopWhenUnneeded= behind its bridge, end in the state asked for.
func TestControlPortApp(t *testing.T) {
	h := boot(t)
	h.sh("mkdir -p /srv/m && cp -r /srv/examples/tenants /srv/examples/kits /srv/m/")
	h.run("ehecoatl", "apply", "/srv/m")
	state := func() string {
		for _, r := range h.statusJSON("globex") {
			if r["app"] == "www" {
				return r["state"].(string)
			}
		}
		return "missing"
	}
	for _, step := range []struct{ verb, want string }{
		{"start", "running"},
		{"stop", "stopped"},
		{"restart", "running"},
		{"stop", "stopped"},
	} {
		h.run("ehecoatl", step.verb, "globex/www")
		if got := state(); got != step.want {
			t.Errorf("after %s: globex/www is %s, want %s\n%s", step.verb, got, step.want,
				h.run("systemctl", "list-units", "--all", "--no-legend", "ehecoatl-globex-*"))
		}
	}
	// After stop, nothing listens: a connection is refused, not queued.
	if _, errOut, code := h.try("curl", "-sS", "--max-time", "5", "--unix-socket", "/run/ehecoatl/globex/www.sock", "http://x/"); code == 0 || !strings.Contains(errOut, "connect") && !strings.Contains(errOut, "No such file") {
		t.Errorf("after stop the socket still answers (exit %d): %s", code, errOut)
	}
}
