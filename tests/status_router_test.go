package tests

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestStatusRouterDown: status does not hide an outage (issue 13, point
// 3). With the router's socket stopped, status says so and exits 1 (0
// when all is well), --json carries a router section, and apply starts
// the socket again instead of saying "nothing changed".
func TestStatusRouterDown(t *testing.T) {
	r := bootRouted(t, "/srv/testdata/stop")
	// As the package leaves it: enabled, so it is meant to listen.
	r.run("systemctl", "enable", "ehecoatl-router.socket")
	if code, _, err := r.fetch("bravo.test", "/"); code != 200 {
		t.Fatalf("bravo through the router: %d %v", code, err)
	}
	if out, errOut, code := r.try("ehecoatl", "status"); code != 0 || !strings.Contains(out, "router: listening") {
		t.Errorf("status with the router up: exit %d\n%s%s\nwant exit 0 and 'router: listening'", code, out, errOut)
	}

	r.run("systemctl", "stop", "ehecoatl-router.socket", "ehecoatl-router.service")
	out, errOut, code := r.try("ehecoatl", "status")
	t.Logf("ehecoatl status, router stopped (exit %d):\n%s%s", code, out, errOut)
	if code != 1 || !strings.Contains(out, "router: DOWN") {
		t.Errorf("status with the router's socket stopped: exit %d\n%s%s\nwant exit 1 and 'router: DOWN'", code, out, errOut)
	}
	js, _, code := r.try("ehecoatl", "status", "--json")
	var doc struct {
		Router struct {
			Socket    string `json:"socket_state"`
			Listening bool   `json:"listening"`
			Service   string `json:"service_state"`
		} `json:"router"`
		Apps []map[string]any `json:"apps"`
	}
	if err := json.Unmarshal([]byte(js), &doc); err != nil || code != 1 || doc.Router.Listening || doc.Router.Socket != "inactive" || len(doc.Apps) != 2 {
		t.Errorf("status --json with the router down: exit %d, %v\n%s\nwant exit 1, router.listening false, socket_state inactive, 2 apps", code, err, js)
	}

	out = r.run("ehecoatl", "apply", "/srv/m")
	t.Logf("apply, router stopped:\n%s", out)
	if strings.Contains(out, "nothing changed") || !strings.Contains(out, "started the router's socket") {
		t.Errorf("apply with the router's socket stopped:\n%s\nwant it started, not 'nothing changed'", out)
	}
	if st := r.prop("ehecoatl-router.socket", "ActiveState"); st != "active" {
		t.Errorf("after apply: ehecoatl-router.socket is %s", st)
	}
	if code, _, err := r.fetch("bravo.test", "/"); code != 200 {
		t.Errorf("bravo after apply: %d %v", code, err)
	}
	if out, errOut, code := r.try("ehecoatl", "status"); code != 0 {
		t.Errorf("status after apply: exit %d\n%s%s", code, out, errOut)
	}
}
