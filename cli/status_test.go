package cli

import (
	"testing"

	"github.com/ehecoatl/ehecoatl/health"
	"github.com/ehecoatl/ehecoatl/status"
)

// status exits 1 when an app failed, when every instance of an app is
// down, or when the router is down; one instance down of two is not.
func TestStatusExit(t *testing.T) {
	inst := func(h ...string) []health.Instance {
		var out []health.Instance
		for i, x := range h {
			out = append(out, health.Instance{Tenant: "acme", App: "web", Instance: i + 1, Health: x})
		}
		return out
	}
	for _, c := range []struct {
		name   string
		row    status.App
		router status.Router
		bad    bool
	}{
		{"running", status.App{State: status.Running, Instances: inst("up", "up")}, status.Router{}, false},
		{"one down", status.App{State: status.Running, Instances: inst("up", "down")}, status.Router{}, false},
		{"all down", status.App{State: status.Running, Instances: inst("down", "down")}, status.Router{}, true},
		{"failed", status.App{State: status.Failed}, status.Router{}, true},
		{"router", status.App{State: status.Idle}, status.Router{Problem: "x"}, true},
	} {
		c.row.Tenant, c.row.App = "acme", "web"
		if err := statusExit([]status.App{c.row}, c.router); (err != nil) != c.bad {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}
