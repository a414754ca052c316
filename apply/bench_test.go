package apply

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/generator"
	"github.com/ehecoatl/ehecoatl/layout"
	"github.com/ehecoatl/ehecoatl/plan"
)

// bigDir writes n tenants with two apps each.
func bigDir(tb testing.TB, n int) string {
	dir := tb.TempDir()
	os.MkdirAll(filepath.Join(dir, "tenants"), 0o755)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("t%04d", i)
		y := fmt.Sprintf(`tenant: %s
limits: {memory: 256M, tasks: 64}
apps:
  web:
    command: [/usr/bin/python3, /srv/app.py]
    listen: activation
    domains: [%s.example.test]
    env: {MODE: one}
  api:
    command: [/usr/bin/python3, -m, http.server, --bind, 127.0.0.1, "8080"]
    port: 8080
    domains: [api.%s.example.test]
`, name, name, name)
		if err := os.WriteFile(filepath.Join(dir, "tenants", name+".yaml"), []byte(y), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// TestNoopPhases prints where a no-op apply of 1,000 tenants spends its
// time, without systemd (the D-Bus part is one ListUnits call).
func TestNoopPhases(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := bigDir(t, 1000)
	l := layout.Layout{Root: t.TempDir()}
	gen := generator.Options{SourceDir: layout.EtcDir}
	set, out, want, err := Desired(dir, gen)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Install(l.Etc(), set, out); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(l.GeneratorOut(), 0o755)
	if err := generator.WriteDir(out, l.GeneratorOut()); err != nil {
		t.Fatal(err)
	}
	if err := plan.Save(RecordPath(l), want); err != nil {
		t.Fatal(err)
	}
	type phase struct {
		name string
		fn   func()
	}
	for _, p := range []phase{
		{"desired (load+generate+render)", func() { Desired(dir, gen) }},
		{"current (record)", func() { Current(l, gen) }},
		{"install (unchanged)", func() { Install(l.Etc(), set, out) }},
		{"generated output check", func() { generatedEqual(l.GeneratorOut(), out.Digest()) }},
	} {
		start := time.Now()
		p.fn()
		t.Logf("%-32s %s", p.name, time.Since(start).Round(time.Millisecond))
	}
}

func BenchmarkDesired1000(b *testing.B) {
	dir := bigDir(b, 1000)
	gen := generator.Options{SourceDir: layout.EtcDir}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, _, err := Desired(dir, gen); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNoopApply1000 is a no-op apply of 1,000 tenants in process, as
// `ehecoatl apply` runs it but with the fake systemd of the engine tests:
// everything but D-Bus (make bench-apply has the whole in a real systemd).
//
//	go test ./apply/ -run '^$' -bench NoopApply -cpuprofile /tmp/cpu.out
func BenchmarkNoopApply1000(b *testing.B) {
	ctx := context.Background()
	dir := bigDir(b, 1000)
	l := layout.Layout{Root: b.TempDir()}
	opts := Options{Layout: l, Generator: generator.Options{SourceDir: layout.EtcDir}}
	sd := newFake(l)
	if _, err := Apply(ctx, dir, sd, opts); err != nil {
		b.Fatal(err)
	}
	// Four more generations, as a host that applied before keeps.
	for i, old := range []string{"one", "1", "2", "3"} {
		edit(b, filepath.Join(dir, "tenants/t0001.yaml"), "MODE: "+old, fmt.Sprintf("MODE: %d", i+1))
		if _, err := Apply(ctx, dir, sd, opts); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := Apply(ctx, dir, sd, opts)
		if err != nil || res.Changed() {
			b.Fatalf("no-op apply: %v %+v", err, res)
		}
	}
}
