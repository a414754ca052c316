package naming

import (
	"reflect"
	"slices"
	"strconv"
	"testing"
)

func TestUnits(t *testing.T) {
	web := App{Tenant: "acme", Name: "web", Workers: 1}
	port, workers, portWorkers, next, nextWorkers := web, web, web, web, web
	port.Bridge = true
	workers.Workers = 2
	portWorkers.Bridge, portWorkers.Workers = true, 2
	next.Next = true
	nextWorkers.Next, nextWorkers.Workers = true, 2
	for _, tc := range []struct {
		name string
		app  App
		want Units
	}{
		{"activation", web, Units{
			Files:       []string{"ehecoatl-acme-web.service", "ehecoatl-acme-web.socket"},
			Sockets:     []string{"ehecoatl-acme-web.socket"},
			Services:    []string{"ehecoatl-acme-web.service"},
			SocketPaths: []string{"/run/ehecoatl/acme/web.sock"},
		}},
		{"second slot", next, Units{
			Files: []string{"ehecoatl-acme-web-next.service", "ehecoatl-acme-web-next.socket",
				"ehecoatl-acme-web.service", "ehecoatl-acme-web.socket"},
			Sockets:     []string{"ehecoatl-acme-web.socket"},
			Services:    []string{"ehecoatl-acme-web.service"},
			SocketPaths: []string{"/run/ehecoatl/acme/web.sock"},
			Next:        Slot{Socket: "ehecoatl-acme-web-next.socket", Service: "ehecoatl-acme-web-next.service", SocketPath: "/run/ehecoatl/acme/web-next.sock"},
		}},
		// Workers have each other: no slot.
		{"second slot with workers", nextWorkers, Units{
			Files:       []string{"ehecoatl-acme-web@.service", "ehecoatl-acme-web@.socket"},
			Sockets:     []string{"ehecoatl-acme-web@1.socket", "ehecoatl-acme-web@2.socket"},
			Services:    []string{"ehecoatl-acme-web@1.service", "ehecoatl-acme-web@2.service"},
			SocketPaths: []string{"/run/ehecoatl/acme/web@1.sock", "/run/ehecoatl/acme/web@2.sock"},
		}},
		{"port", port, Units{
			Files:       []string{"ehecoatl-acme-web-bridge.service", "ehecoatl-acme-web.service", "ehecoatl-acme-web.socket"},
			Sockets:     []string{"ehecoatl-acme-web.socket"},
			Services:    []string{"ehecoatl-acme-web.service", "ehecoatl-acme-web-bridge.service"},
			SocketPaths: []string{"/run/ehecoatl/acme/web.sock"},
		}},
		{"workers", workers, Units{
			Files:       []string{"ehecoatl-acme-web@.service", "ehecoatl-acme-web@.socket"},
			Sockets:     []string{"ehecoatl-acme-web@1.socket", "ehecoatl-acme-web@2.socket"},
			Services:    []string{"ehecoatl-acme-web@1.service", "ehecoatl-acme-web@2.service"},
			SocketPaths: []string{"/run/ehecoatl/acme/web@1.sock", "/run/ehecoatl/acme/web@2.sock"},
		}},
		{"port workers", portWorkers, Units{
			Files:   []string{"ehecoatl-acme-web-bridge@.service", "ehecoatl-acme-web@.service", "ehecoatl-acme-web@.socket"},
			Sockets: []string{"ehecoatl-acme-web@1.socket", "ehecoatl-acme-web@2.socket"},
			Services: []string{"ehecoatl-acme-web@1.service", "ehecoatl-acme-web-bridge@1.service",
				"ehecoatl-acme-web@2.service", "ehecoatl-acme-web-bridge@2.service"},
			SocketPaths: []string{"/run/ehecoatl/acme/web@1.sock", "/run/ehecoatl/acme/web@2.sock"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.app.Units(""); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
	if got := web.Units("/run/x").SocketPaths; got[0] != "/run/x/acme/web.sock" {
		t.Errorf("runDir ignored: %v", got)
	}
	if got := next.Units("/run/x").Next.SocketPath; got != "/run/x/acme/web-next.sock" {
		t.Errorf("runDir ignored by the slot: %v", got)
	}
	// The slot's names lead back to its app, and no app's own units are
	// named so: names have no "-".
	if tn, an, w := Owner(next.NextService()); tn != "acme" || an != "web" || w != "" {
		t.Errorf("Owner(%s) = %s %s %s", next.NextService(), tn, an, w)
	}
	// A port: app's slot has its own bridge, started in its place (the
	// slot's service stops when unneeded) and stopped with it.
	portNext := App{Tenant: "acme", Name: "api", Workers: 1, Bridge: true, Next: true}
	ps := portNext.Units("").Next
	if ps.Bridge != "ehecoatl-acme-api-next-bridge.service" || !slices.Contains(portNext.Units("").Files, ps.Bridge) {
		t.Errorf("portNext slot bridge: %+v, files %v", ps, portNext.Units("").Files)
	}
	if got := ps.Start(); !slices.Equal(got, []string{"ehecoatl-acme-api-next.socket", "ehecoatl-acme-api-next-bridge.service"}) {
		t.Errorf("portNext slot Start = %v", got)
	}
	if tn, an, w := Owner(ps.Bridge); tn != "acme" || an != "api" || w != "" {
		t.Errorf("Owner(%s) = %s %s %s", ps.Bridge, tn, an, w)
	}
}

// TestOwnerRoundTrip: every name an app's units get leads back to the app
// (and the worker, for instances), whatever the names look like within
// their rules.
func TestOwnerRoundTrip(t *testing.T) {
	for _, a := range []App{
		{Tenant: "acme", Name: "web", Workers: 1},
		{Tenant: "acme", Name: "web", Workers: 1, Bridge: true},
		{Tenant: "acme", Name: "web", Workers: 1, Bridge: true, Next: true}, // the second slot and its bridge
		{Tenant: "acme", Name: "web", Workers: 3},
		{Tenant: "acme", Name: "web", Workers: 12, Bridge: true},
		{Tenant: "a_b", Name: "c_d", Workers: 2, Bridge: true},
		{Tenant: "t0", Name: "bridge", Workers: 1, Bridge: true}, // an app named like the bridge's tag
		{Tenant: "x", Name: "y9", Workers: 2},
	} {
		type name struct{ unit, worker string }
		var names []name
		n := a.Units("")
		for _, f := range n.Files { // units, or templates for workers
			names = append(names, name{f, ""})
		}
		for i, u := range n.Sockets {
			names = append(names, name{u, workerOf(a, i+1)})
		}
		for i, u := range n.Services {
			per := 1
			if a.Bridge {
				per = 2
			}
			names = append(names, name{u, workerOf(a, i/per+1)})
		}
		for _, nm := range names {
			tn, an, w := Owner(nm.unit)
			if tn != a.Tenant || an != a.Name || w != nm.worker {
				t.Errorf("Owner(%s) = %q, %q, %q; want %q, %q, %q", nm.unit, tn, an, w, a.Tenant, a.Name, nm.worker)
			}
		}
		if tn, an, w := Owner(TenantSlice(a.Tenant)); tn != a.Tenant || an != "" || w != "" {
			t.Errorf("Owner(%s) = %q, %q, %q", TenantSlice(a.Tenant), tn, an, w)
		}
	}
	// The firewall and the router are packaged, not generated: Owner is
	// never asked about them.
	for _, u := range []string{RootSlice, RootTarget} {
		if tn, an, w := Owner(u); tn != "" || an != "" || w != "" {
			t.Errorf("Owner(%s) = %q, %q, %q; want no owner", u, tn, an, w)
		}
	}
}

func workerOf(a App, i int) string {
	if !a.Templated() {
		return ""
	}
	return strconv.Itoa(i)
}

func TestOwner(t *testing.T) {
	for unit, want := range map[string][3]string{
		"ehecoatl.slice":                     {"", "", ""},
		"ehecoatl-acme.slice":                {"acme", "", ""},
		"ehecoatl-acme-web.socket":           {"acme", "web", ""},
		"ehecoatl-acme-web@.service":         {"acme", "web", ""},
		"ehecoatl-acme-web-bridge@.service":  {"acme", "web", ""},
		"ehecoatl-acme-web-bridge@2.service": {"acme", "web", "2"},
		"ehecoatl-a_b-c_d-bridge.service":    {"a_b", "c_d", ""},
	} {
		tn, an, w := Owner(unit)
		if [3]string{tn, an, w} != want {
			t.Errorf("Owner(%s) = %s, %s, %s; want %v", unit, tn, an, w, want)
		}
	}
}

func TestPaths(t *testing.T) {
	a := App{Tenant: "acme", Name: "web", Workers: 2}
	for _, c := range [][2]string{
		{a.StateDirectory(), "ehecoatl-acme-web"},
		{a.WorkerStatePrefix(), "ehecoatl-acme-web-"},
		{a.SocketPath("", "%i"), "/run/ehecoatl/acme/web@%i.sock"},
		{EnvFileRel("acme", "web"), "env/acme/web.env"},
		{TenantSlice("acme"), "ehecoatl-acme.slice"},
		{StatePrefix("acme"), "ehecoatl-acme-"},
		{Instance("x@.socket", 7), "x@7.socket"},
	} {
		if got, want := c[0], c[1]; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestControlGroup(t *testing.T) {
	for unit, want := range map[string]string{
		"ehecoatl-acme.slice":         "/ehecoatl.slice/ehecoatl-acme.slice",
		"ehecoatl-acme-web.service":   "/ehecoatl.slice/ehecoatl-acme.slice/ehecoatl-acme-web.service",
		"ehecoatl-acme-web@2.service": "/ehecoatl.slice/ehecoatl-acme.slice/ehecoatl-acme-web@2.service",
	} {
		if got := ControlGroup("acme", unit); got != want {
			t.Errorf("ControlGroup(acme, %s) = %s, want %s", unit, got, want)
		}
	}
}
