package apply

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ehecoatl/ehecoatl/drains"
	"github.com/ehecoatl/ehecoatl/layout"
	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/naming"
	"github.com/ehecoatl/ehecoatl/plan"
)

// slotFixture: an app of one worker with a second slot (acme/one), both
// sockets answering its health check with code("" or "next"), its
// service running, a router that reports every drained socket idle at
// once; records are the drain record at each router reload.
func slotFixture(t *testing.T, code func(slot string) int) (*engine, *fakeSystemd, *[]string) {
	t.Helper()
	return slotFixtureListen(t, manifest.ListenActivation, code)
}

// slotFixtureListen is slotFixture with acme/one of the given listen: (a port:
// app's bridge is not running in the fixture: the check is over the
// socket either way).
func slotFixtureListen(t *testing.T, listen string, code func(slot string) int) (*engine, *fakeSystemd, *[]string) {
	t.Helper()
	root, err := os.MkdirTemp("", "ehslot")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	l := layout.Layout{Root: root}
	a := &manifest.App{Tenant: "acme", Name: "one", Workers: 1, Listen: listen, Port: 8080, Health: "/healthz",
		Domains: []string{"one.test"}, Deploy: manifest.DeployRolling, Drain: manifest.DefaultDrain}
	set := &manifest.Set{Tenants: []*manifest.Tenant{{Name: "acme", Apps: []*manifest.App{a}}}}
	os.MkdirAll(filepath.Dir(l.Path(naming.RouterDrained)), 0o755)
	for slot, p := range map[string]string{"": a.Names().SocketPath(l.Path(naming.RunDir), ""), "next": a.Names().NextSocketPath(l.Path(naming.RunDir))} {
		os.MkdirAll(filepath.Dir(p), 0o755)
		ln, err := net.Listen("unix", p)
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { rw.WriteHeader(code(slot)) })}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}
	sd := newFake(l)
	sd.active[naming.RouterUnit] = true
	sd.active["ehecoatl-acme-one.service"] = true
	sd.onRestart = func(u []string) {
		for _, n := range u {
			sd.active[n] = true // a restart starts what did not run
		}
	}
	var records []string
	sd.onReload = func(string) {
		rec, _ := drains.Load(l.Path(naming.DrainFile))
		drains.Save(l.Path(naming.RouterDrained), rec)
		var names []string
		for n := range rec {
			names = append(names, n)
		}
		records = append(records, strings.Join(slices.Sorted(slices.Values(names)), " "))
	}
	return &engine{sd: sd, layout: l, set: set}, sd, &records
}

// TestRolloutSecondSlotPort: a port: app's slot is started through its
// bridge (its service stops when unneeded, so it is not started alone),
// and stopped with it.
func TestRolloutSecondSlotPort(t *testing.T) {
	e, sd, records := slotFixtureListen(t, manifest.ListenPort, func(string) int { return 200 })
	main := []string{"ehecoatl-acme-one.service", "ehecoatl-acme-one-bridge.service"}
	sd.active[main[1]] = true
	if _, err := e.step(context.Background(), plan.Step{Op: plan.TryRestart, Units: main}); err != nil {
		t.Fatal(err)
	}
	r := "reload " + naming.RouterUnit
	want := []string{"restart ehecoatl-acme-one-next.socket ehecoatl-acme-one-next-bridge.service", r,
		"restart ehecoatl-acme-one.service ehecoatl-acme-one-bridge.service", r,
		"stop ehecoatl-acme-one-next.service ehecoatl-acme-one-next-bridge.service ehecoatl-acme-one-next.socket", r}
	if !reflect.DeepEqual(sd.calls, want) {
		t.Errorf("calls %q, want %q", sd.calls, want)
	}
	if wantRec := []string{"+acme/one-next.sock acme/one.sock", "acme/one-next.sock", ""}; !reflect.DeepEqual(*records, wantRec) {
		t.Errorf("records at the reloads %q, want %q", *records, wantRec)
	}
}

// TestRolloutSecondSlot: the slot starts and is checked, the router sends
// to it while the app's own instance drains and restarts, then back; the
// slot is stopped and the record is empty.
func TestRolloutSecondSlot(t *testing.T) {
	e, sd, records := slotFixture(t, func(string) int { return 200 })
	if _, err := e.step(context.Background(), plan.Step{Op: plan.TryRestart, Units: []string{"ehecoatl-acme-one.service"}}); err != nil {
		t.Fatal(err)
	}
	r := "reload " + naming.RouterUnit
	want := []string{"restart ehecoatl-acme-one-next.socket ehecoatl-acme-one-next.service", r,
		"restart ehecoatl-acme-one.service", r, "stop ehecoatl-acme-one-next.service ehecoatl-acme-one-next.socket", r}
	if !reflect.DeepEqual(sd.calls, want) {
		t.Errorf("calls %q, want %q", sd.calls, want)
	}
	wantRec := []string{"+acme/one-next.sock acme/one.sock", "acme/one-next.sock", ""}
	if !reflect.DeepEqual(*records, wantRec) {
		t.Errorf("records at the reloads %q, want %q", *records, wantRec)
	}
	if sd.active["ehecoatl-acme-one-next.service"] || sd.active["ehecoatl-acme-one-next.socket"] {
		t.Errorf("the slot still runs: %v", sd.active)
	}
}

// TestRolloutSecondSlotFails: a slot that fails its check is stopped; the
// app's own instance is not touched nor drained, and the error names the
// slot.
func TestRolloutSecondSlotFails(t *testing.T) {
	e, sd, records := slotFixture(t, func(slot string) int {
		if slot == "next" {
			return 500
		}
		return 200
	})
	sd.onRestart = func(u []string) {
		if strings.Contains(u[0], "-next") {
			sd.active["ehecoatl-acme-one-next.socket"] = true
			sd.failed["ehecoatl-acme-one-next.service"] = true
		}
	}
	_, err := e.step(context.Background(), plan.Step{Op: plan.TryRestart, Units: []string{"ehecoatl-acme-one.service"}})
	if err == nil || !strings.Contains(err.Error(), "ehecoatl-acme-one-next.service") || !strings.Contains(err.Error(), "GET /healthz: 500") {
		t.Fatalf("error %v, want one naming the slot and its check", err)
	}
	for _, c := range sd.calls {
		if strings.Contains(c, "ehecoatl-acme-one.service") {
			t.Errorf("the app's own instance was touched: %q", sd.calls)
		}
	}
	if len(*records) != 0 {
		t.Errorf("the router was reloaded with records %q, want none", *records)
	}
	if sd.active["ehecoatl-acme-one-next.service"] || !sd.active["ehecoatl-acme-one.service"] {
		t.Errorf("active %v, want the app's instance and not the slot", sd.active)
	}
}

// TestRolloutSecondSlotIdle: an idle app is not started to roll it, nor
// is its slot.
func TestRolloutSecondSlotIdle(t *testing.T) {
	e, sd, _ := slotFixture(t, func(string) int { return 200 })
	delete(sd.active, "ehecoatl-acme-one.service")
	if _, err := e.step(context.Background(), plan.Step{Op: plan.TryRestart, Units: []string{"ehecoatl-acme-one.service"}}); err != nil {
		t.Fatal(err)
	}
	if len(sd.calls) != 0 {
		t.Errorf("calls %q, want none", sd.calls)
	}
}
