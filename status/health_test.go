package status

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/health"
)

func TestAttachHealth(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	rows := []App{{Tenant: "acme", App: "web", State: Running}, {Tenant: "acme", App: "api", State: Running}, {Tenant: "beta", App: "web", State: Idle}}
	AttachHealth(rows, health.Record{Instances: []health.Instance{
		{Tenant: "acme", App: "api", Health: "up"},
		{Tenant: "acme", App: "web", Instance: 1, Health: "up"},
		{Tenant: "acme", App: "web", Instance: 2, Health: "down", Since: &at, Reason: "3 failed requests within 10s (last: status 502)"},
	}})
	for i, want := range []string{"1/2 up", "up", "-"} {
		if got := rows[i].Health(); got != want {
			t.Errorf("%s/%s: %q, want %q", rows[i].Tenant, rows[i].App, got, want)
		}
	}
	var b bytes.Buffer
	Print(&b, rows, at)
	out := b.String()
	for _, want := range []string{"STATE    HEALTH", "running  1/2 up", "acme/web@2: down since 2026-12-01 12:00:00 UTC: 3 failed requests within 10s (last: status 502)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
