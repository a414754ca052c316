package status

import (
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/ehecoatl/ehecoatl/internal/linediff"
	"github.com/ehecoatl/ehecoatl/usage"
)

var update = flag.Bool("update", false, "rewrite testdata/usage.json from the current output")

func u32(n uint32) *uint32   { return &n }
func f64(f float64) *float64 { return &f }

// The JSON of status --json's usage: a running app of two services
// (summed), an idle one (its state and restarts, no cgroup figures), a
// second slot systemd has not loaded (left out), and the tenant's slice
// with its limits (testdata/usage.json; -update rewrites it).
func TestAttachUsage(t *testing.T) {
	rows := []App{{Tenant: "acme", App: "api", State: Running}, {Tenant: "acme", App: "web", State: Idle}, {Tenant: "acme", App: "old", State: Stopped}}
	figs := []usage.Figures{
		{Target: usage.Target{Tenant: "acme", Unit: "ehecoatl-acme.slice"}, Loaded: true, ActiveState: "active",
			Cgroup: &usage.Cgroup{CPUUsec: u64(3_000_000), MemoryBytes: u64(70 << 20), MemoryPeak: u64(90 << 20), MemoryMax: u64(256 << 20),
				Tasks: u64(9), TasksMax: u64(64), CPUQuota: f64(1.5), IOReadBytes: u64(4096), IOWriteBytes: u64(0)}},
		{Target: usage.Target{Tenant: "acme", App: "api", Unit: "ehecoatl-acme-api.service"}, Loaded: true, ActiveState: "active",
			Restarts: u32(1), IPIngressBytes: u64(1200), IPEgressBytes: u64(5300),
			Cgroup: &usage.Cgroup{CPUUsec: u64(2_500_000), MemoryBytes: u64(60 << 20), MemoryPeak: u64(80 << 20), Tasks: u64(7), IOReadBytes: u64(4096), IOWriteBytes: u64(0)}},
		{Target: usage.Target{Tenant: "acme", App: "api", Unit: "ehecoatl-acme-api-bridge.service"}, Loaded: true, ActiveState: "active",
			Restarts: u32(0), IPIngressBytes: u64(5300), IPEgressBytes: u64(1200),
			Cgroup: &usage.Cgroup{CPUUsec: u64(500_000), MemoryBytes: u64(10 << 20), MemoryPeak: u64(10 << 20), Tasks: u64(2), IOReadBytes: u64(0), IOWriteBytes: u64(0)}},
		{Target: usage.Target{Tenant: "acme", App: "api", Unit: "ehecoatl-acme-api-next.service"}, ActiveState: "inactive"},
		{Target: usage.Target{Tenant: "acme", App: "web", Unit: "ehecoatl-acme-web.service"}, Loaded: true, ActiveState: "inactive", Restarts: u32(2)},
	}
	tenants := AttachUsage(rows, figs)
	got, err := json.MarshalIndent(struct {
		Tenants []Tenant `json:"tenants"`
		Apps    []App    `json:"apps"`
	}{tenants, rows}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile("testdata/usage.json", got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/usage.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("status --json usage differs from testdata/usage.json:\n%s", linediff.Lines(string(want), string(got)))
	}
	if rows[2].Usage != nil {
		t.Errorf("an app without figures got usage %+v", rows[2].Usage)
	}
}
