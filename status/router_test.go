package status

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/dbus"
	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/naming"
	"github.com/ehecoatl/ehecoatl/stops"
)

// routerSource plays systemd for the router's two units.
type routerSource struct {
	socket, service, enabled, result string
}

func (r routerSource) ListUnits(context.Context, ...string) ([]dbus.UnitStatus, error) {
	var out []dbus.UnitStatus
	if r.socket != "" {
		out = append(out, dbus.UnitStatus{Name: naming.RouterSocket, ActiveState: r.socket})
	}
	if r.service != "" {
		out = append(out, dbus.UnitStatus{Name: naming.RouterUnit, ActiveState: r.service, SubState: "running"})
	}
	return out, nil
}

func (r routerSource) Units(_ context.Context, names []string) ([]*dbus.UnitInfo, error) {
	return []*dbus.UnitInfo{
		{Name: naming.RouterSocket, UnitFileState: r.enabled},
		{Name: naming.RouterUnit, Result: r.result},
	}, nil
}

func (routerSource) StateSince(context.Context, []string) ([]time.Time, error) { return nil, nil }

// The router is down when its enabled socket does not listen, either unit
// failed, or it serves no table; a disabled socket is the operator's choice.
func TestCollectRouter(t *testing.T) {
	for _, c := range []struct {
		name    string
		src     routerSource
		reloads string
		problem string // "" for none
		line    string
	}{
		{"up", routerSource{"active", "active", "enabled", "success"}, "3 ok", "", "router: listening"},
		{"socket stopped", routerSource{"inactive", "inactive", "enabled", ""}, "", "inactive though enabled", "router: DOWN"},
		{"socket failed", routerSource{"failed", "failed", "enabled", "exit-code"}, "", "failed", "router: DOWN"},
		{"disabled", routerSource{"inactive", "", "disabled", ""}, "", "", "router: not listening"},
		{"service failed", routerSource{"active", "failed", "enabled", "exit-code"}, "", "ehecoatl-router.service failed", "router: DOWN"},
		{"no table at start", routerSource{"active", "active", "enabled", ""}, "1 failed: bad manifests", "serves no routes", "router: DOWN"},
		{"reload failed", routerSource{"active", "active", "enabled", ""}, "4 failed: bad manifests", "previous table", "router: DOWN"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "reloads")
			if c.reloads != "" {
				os.WriteFile(f, []byte(c.reloads+"\n"), 0o644)
			}
			r, err := CollectRouter(context.Background(), c.src, f)
			if err != nil {
				t.Fatal(err)
			}
			if (c.problem == "") != (r.Problem == "") || !strings.Contains(r.Problem, c.problem) {
				t.Errorf("problem %q, want %q", r.Problem, c.problem)
			}
			var b strings.Builder
			PrintRouter(&b, r)
			if !strings.Contains(b.String(), c.line) {
				t.Errorf("printed %q, want %q", b.String(), c.line)
			}
		})
	}
}

// A stopped app shows who stopped it and since when; a suspended
// tenant's down apps are "suspended".
func TestAttachHolds(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	set := &manifest.Set{Tenants: []*manifest.Tenant{{Name: "d"}, {Name: "s", File: "tenants/s.yaml", Suspended: true}}}
	rows := []App{{Tenant: "d", App: "w", State: Stopped}, {Tenant: "s", App: "w", State: Stopped}, {Tenant: "b", App: "w", State: Running}}
	AttachHolds(rows, set, stops.Record{Stops: []stops.Stop{{Tenant: "d", By: "alice", Since: t0}}})
	if r := rows[0]; r.State != Stopped || r.StoppedBy != "alice" || !r.StoppedSince.Equal(t0) || r.StoppedTarget != "d" {
		t.Errorf("stopped row: %+v", r)
	}
	if r := rows[1]; r.State != Suspended || r.SuspendedIn != "tenants/s.yaml" {
		t.Errorf("suspended row: %+v", r)
	}
	if r := rows[2]; r.State != Running || r.StoppedSince != nil {
		t.Errorf("other row: %+v", r)
	}
	var b strings.Builder
	Print(&b, rows, t0)
	for _, want := range []string{"d/w: stopped by operator since 2026-12-01 12:00:00 UTC (by alice)", "'ehecoatl start d' serves it again", "s/w: suspended (suspended: true in tenants/s.yaml)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status table lacks %q:\n%s", want, b.String())
		}
	}
}
