package usage

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ehecoatl/ehecoatl/dbus"
	"github.com/ehecoatl/ehecoatl/internal/promtext"
	"github.com/ehecoatl/ehecoatl/naming"
)

// scale builds the fixture of issue 16's scrape figure below dir: 1,000
// tenants with two apps each, an activation app and a port: app with its
// bridge, both with second slots (as tests/bench_apply_test.go's), every
// slice and service running with its cgroup (the worst case for the
// files; after an apply most apps are idle and have none), the second
// slots not loaded.
func scale(b testing.TB, dir string, tenants int) (*fakeSystemd, []Target) {
	f := &fakeSystemd{counters: map[string]dbus.ServiceCounters{}, quiet: true}
	var apps []naming.App
	files := map[string]string{
		"cpu.stat":       "usage_usec 123456789\nuser_usec 100000000\nsystem_usec 23456789\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\nnr_bursts 0\nburst_usec 0\n",
		"memory.current": "52428800\n", "memory.peak": "60000000\n", "memory.max": "max\n",
		"pids.current": "3\n", "pids.max": "max\n", "cpu.max": "max 100000\n",
		"io.stat": "254:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n",
	}
	for i := 1; i <= tenants; i++ {
		t := fmt.Sprintf("t%04d", i)
		apps = append(apps, naming.App{Tenant: t, Name: "web", Next: true}, naming.App{Tenant: t, Name: "api", Bridge: true, Next: true})
	}
	targets := AppTargets(apps)
	for _, tg := range targets {
		if filepath.Ext(tg.Unit) == ".service" && bytes.Contains([]byte(tg.Unit), []byte("-next")) {
			continue
		}
		f.units = append(f.units, dbus.UnitStatus{Name: tg.Unit, LoadState: "loaded", ActiveState: "active"})
		f.counters[tg.Unit] = dbus.ServiceCounters{NRestarts: u32(0), IPIngressBytes: u64(1), IPEgressBytes: u64(2)}
		cg := filepath.Join(dir, naming.ControlGroup(tg.Tenant, tg.Unit))
		if err := os.MkdirAll(cg, 0o755); err != nil {
			b.Fatal(err)
		}
		for name, text := range files {
			if err := os.WriteFile(filepath.Join(cg, name), []byte(text), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	return f, targets
}

// BenchmarkRead: the cgroup files of 1,000 tenants (5,000 cgroups), with
// systemd answering in process (its cost is measured in a booted systemd:
// make bench-apply).
func BenchmarkRead(b *testing.B) {
	dir := b.TempDir()
	f, targets := scale(b, dir, 1000)
	for b.Loop() {
		if _, err := Read(context.Background(), f, dir, targets); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScrape: Read, the metrics and their text exposition, as the
// router's /metrics serves them.
func BenchmarkScrape(b *testing.B) {
	dir := b.TempDir()
	f, targets := scale(b, dir, 1000)
	c := NewCollector(func() []Target { return targets }, Options{Systemd: f, CgroupRoot: dir})
	var buf []byte
	for b.Loop() {
		w := promtext.NewWriter(buf[:0], false)
		c.WriteMetrics(w)
		buf = w.Bytes()
	}
	b.ReportMetric(float64(len(buf)), "bytes/scrape")
}
