package apply

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ehecoatl/ehecoatl/drains"
	"github.com/ehecoatl/ehecoatl/layout"
	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/naming"
	"github.com/ehecoatl/ehecoatl/plan"
)

// rollFixture: two apps of two workers (acme/web, whose sockets answer
// health checks with code(worker), and acme/api; a rolling app of one
// worker has a second slot, see slot_test.go), a running router that
// reports every drained socket idle at once, and an engine over them.
func rollFixture(t *testing.T, code func(worker string) int) (*engine, *fakeSystemd) {
	t.Helper()
	root, err := os.MkdirTemp("", "ehroll") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	l := layout.Layout{Root: root}
	a := &manifest.App{Tenant: "acme", Name: "web", Workers: 2, Health: "/healthz", Domains: []string{"acme.test"}, Deploy: manifest.DeployRolling, Drain: manifest.DefaultDrain}
	api := &manifest.App{Tenant: "acme", Name: "api", Workers: 2, Deploy: manifest.DeployRolling, Drain: manifest.DefaultDrain}
	set := &manifest.Set{Tenants: []*manifest.Tenant{{Name: "acme", Apps: []*manifest.App{a, api}}}}
	os.MkdirAll(filepath.Dir(l.Path(naming.RouterDrained)), 0o755)
	for _, w := range []string{"1", "2", "api1", "api2"} {
		p := a.Names().SocketPath(l.Path(naming.RunDir), w)
		if aw, ok := strings.CutPrefix(w, "api"); ok {
			p = api.Names().SocketPath(l.Path(naming.RunDir), aw)
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		ln, err := net.Listen("unix", p)
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { rw.WriteHeader(code(w)) })}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}
	sd := newFake(l)
	sd.active[naming.RouterUnit] = true
	sd.active["ehecoatl-acme-web@1.service"] = true
	sd.active["ehecoatl-acme-web@2.service"] = true
	sd.active["ehecoatl-acme-api@1.service"] = true
	sd.active["ehecoatl-acme-api@2.service"] = true
	sd.onReload = func(string) {
		rec, _ := drains.Load(l.Path(naming.DrainFile))
		drains.Save(l.Path(naming.RouterDrained), rec)
	}
	return &engine{sd: sd, layout: l, set: set}, sd
}

var webWorkers = []string{"ehecoatl-acme-web@1.service", "ehecoatl-acme-web@2.service"}

// TestRolloutOneAtATime: each worker is drained (router reload), restarted
// and checked before the next; the record is empty afterwards.
func TestRolloutOneAtATime(t *testing.T) {
	e, sd := rollFixture(t, func(string) int { return 200 })
	if _, err := e.step(context.Background(), plan.Step{Op: plan.TryRestart, Units: webWorkers}); err != nil {
		t.Fatal(err)
	}
	r := "reload " + naming.RouterUnit
	want := []string{r, "restart ehecoatl-acme-web@1.service", r, r, "restart ehecoatl-acme-web@2.service", r}
	if !reflect.DeepEqual(sd.calls, want) {
		t.Errorf("calls %q, want %q", sd.calls, want)
	}
	if rec, _ := drains.Load(e.layout.Path(naming.DrainFile)); len(rec) != 0 {
		t.Errorf("drain record left: %v", rec)
	}
}

// TestRolloutStopsAtFailure: worker 1 fails its health check; worker 2 is
// not restarted and keeps serving, worker 1 stays drained, and the error
// names it.
func TestRolloutStopsAtFailure(t *testing.T) {
	e, sd := rollFixture(t, func(w string) int {
		if w == "1" {
			return 500
		}
		return 200
	})
	sd.onRestart = func(u []string) { sd.failed[u[0]] = true } // a crash loop systemd gave up on
	_, err := e.step(context.Background(), plan.Step{Op: plan.TryRestart, Units: webWorkers})
	if err == nil || !strings.Contains(err.Error(), "ehecoatl-acme-web@1.service") || !strings.Contains(err.Error(), "GET /healthz: 500") {
		t.Fatalf("error %v, want one naming worker 1 and its check", err)
	}
	for _, c := range sd.calls {
		if strings.Contains(c, "@2") {
			t.Errorf("worker 2 was touched: %q", sd.calls)
		}
	}
	if rec, _ := drains.Load(e.layout.Path(naming.DrainFile)); !reflect.DeepEqual(rec, map[string]bool{"acme/web@1.sock": true}) {
		t.Errorf("drain record %v, want worker 1 left drained", rec)
	}
}

// TestRolloutIdle: an idle worker is not started to roll it.
func TestRolloutIdle(t *testing.T) {
	e, sd := rollFixture(t, func(string) int { return 200 })
	delete(sd.active, "ehecoatl-acme-web@1.service")
	if _, err := e.step(context.Background(), plan.Step{Op: plan.TryRestart, Units: webWorkers}); err != nil {
		t.Fatal(err)
	}
	for _, c := range sd.calls {
		if strings.Contains(c, "@1") {
			t.Errorf("idle worker 1 was restarted: %q", sd.calls)
		}
	}
}

// TestRolloutWaves: apps roll side by side, instance k of each in one
// wave (two router reloads, one batch of jobs).
func TestRolloutWaves(t *testing.T) {
	e, sd := rollFixture(t, func(string) int { return 200 })
	units := append([]string{"ehecoatl-acme-api@1.service", "ehecoatl-acme-api@2.service"}, webWorkers...)
	if _, err := e.step(context.Background(), plan.Step{Op: plan.TryRestart, Units: units}); err != nil {
		t.Fatal(err)
	}
	r := "reload " + naming.RouterUnit
	want := []string{r, "restart ehecoatl-acme-api@1.service ehecoatl-acme-web@1.service", r, r, "restart ehecoatl-acme-api@2.service ehecoatl-acme-web@2.service", r}
	if !reflect.DeepEqual(sd.calls, want) {
		t.Errorf("calls %q, want %q", sd.calls, want)
	}
}

// TestRolloutStopStart: deploy: stop-start restarts every instance at
// once, without draining.
func TestRolloutStopStart(t *testing.T) {
	e, sd := rollFixture(t, func(string) int { return 200 })
	e.set.Tenants[0].Apps[0].Deploy = manifest.DeployStopStart
	if _, err := e.step(context.Background(), plan.Step{Op: plan.TryRestart, Units: webWorkers}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"try-restart ehecoatl-acme-web@1.service ehecoatl-acme-web@2.service"}; !reflect.DeepEqual(sd.calls, want) {
		t.Errorf("calls %q, want %q", sd.calls, want)
	}
}

// TestRolloutRecover: an apply that gets to reload-router rolls again the
// running instance a failed rollout left drained (it may run a version
// that never passed its check), then empties the record.
func TestRolloutRecover(t *testing.T) {
	e, sd := rollFixture(t, func(string) int { return 200 })
	e.recover = true
	left := map[string]bool{"acme/web@1.sock": true}
	drains.Save(e.layout.Path(naming.DrainFile), left)
	drains.Save(e.layout.Path(naming.RouterDrained), left) // the router's report, nothing in flight
	if _, err := e.step(context.Background(), plan.Step{Op: plan.ReloadRouter, Units: []string{naming.RouterUnit}}); err != nil {
		t.Fatal(err)
	}
	r := "reload " + naming.RouterUnit
	if want := []string{"restart ehecoatl-acme-web@1.service", r, r}; !reflect.DeepEqual(sd.calls, want) {
		t.Errorf("calls %q, want %q", sd.calls, want)
	}
	if rec, _ := drains.Load(e.layout.Path(naming.DrainFile)); len(rec) != 0 {
		t.Errorf("drain record left: %v", rec)
	}
}
