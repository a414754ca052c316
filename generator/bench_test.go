package generator

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/units"
)

// The benchmarks print their cost as a ratio to a reference measured in the
// same run (the machines are noisy): "x-bytes" is the time of serializing
// the same units with units.Unit.Bytes (the floor of any renderer that
// uses package units), "x-copy" the time of writing the same number of
// bytes into a bytes.Buffer.
//
//	go test ./generator/ -run '^$' -bench 1000Tenants -cpu 1

const benchTenants = 1000

type benchFixture struct {
	fsys     fstest.MapFS
	set      *manifest.Set
	units    []*units.Unit // the output, parsed back
	size     int           // bytes of the output
	files    int
	refBytes float64 // ns per serialization of all units
	refCopy  float64 // ns per copy of size bytes
}

var (
	benchOnce sync.Once
	bench     *benchFixture
	benchErr  error
)

// tenantYAML is a tenant with two apps: an activation app with state,
// env and a secret, and a port app with a bridge.
func tenantYAML(i int) string {
	return fmt.Sprintf(`tenant: t%04d
limits:
  cpu: 100%%
  memory: 512M
  tasks: 256
apps:
  web:
    command: [/usr/bin/python3, -m, app, --name, "tenant %d"]
    listen: activation
    domains: [t%04d.example.test, www.t%04d.example.test]
    env: {MODE: prod, GREETING: "hello 100%% $USER"}
    secrets: [api_key]
    state: true
    idle_timeout: 15m
  api:
    command: [/usr/bin/python3, -m, http.server, --bind, 127.0.0.1, "8080"]
    port: 8080
    domains: [api.t%04d.example.test]
    path: /v1
    memory: 128M
`, i, i, i, i, i)
}

func benchSetup() (*benchFixture, error) {
	benchOnce.Do(func() {
		f := &benchFixture{fsys: fstest.MapFS{}}
		for i := 0; i < benchTenants; i++ {
			f.fsys[fmt.Sprintf("tenants/t%04d.yaml", i)] = &fstest.MapFile{Data: []byte(tenantYAML(i)), Mode: 0o644}
		}
		set, rep := manifest.LoadFS(f.fsys, "/etc/ehecoatl")
		if rep.HasErrors() {
			benchErr = fmt.Errorf("%s", rep)
			return
		}
		f.set = set
		out, err := Generate(set, goldenOptions)
		if err != nil {
			benchErr = err
			return
		}
		for _, file := range out.Files {
			u, err := units.Parse(file.Name, file.Data)
			if err != nil {
				benchErr = err
				return
			}
			f.units = append(f.units, u)
			f.size += len(file.Data)
		}
		f.files = len(out.Files)
		bench = f
	})
	return bench, benchErr
}

// measureRefs times the references on the fixture's output.
func measureRefs(f *benchFixture) {
	chunk := make([]byte, f.size/f.files)
	f.refBytes = nsPerOp(func() {
		for _, u := range f.units {
			if _, err := u.Bytes(); err != nil {
				panic(err)
			}
		}
	})
	var buf bytes.Buffer
	f.refCopy = nsPerOp(func() {
		buf.Reset()
		for i := 0; i < f.files; i++ {
			buf.Write(chunk)
		}
	})
}

// nsPerOp times fn (mean over at least 100 ms after one warm-up run).
// testing.Benchmark cannot be used: it would wait for the running
// benchmark's lock.
func nsPerOp(fn func()) float64 {
	fn()
	n, start := 0, time.Now()
	for time.Since(start) < 100*time.Millisecond {
		fn()
		n++
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

// report adds the ratios to the references, measured again right after
// the timed loop so that both see the same machine load.
func report(b *testing.B, f *benchFixture) {
	b.StopTimer()
	per := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	measureRefs(f)
	b.ReportMetric(per/1e6, "ms/op")
	b.ReportMetric(per/f.refBytes, "x-bytes")
	b.ReportMetric(per/f.refCopy, "x-copy")
}

// BenchmarkGenerate1000Tenants renders 1,000 tenants with two apps each
// (11,002 unit files): from an in-memory set ("generate") and
// from YAML including loading and validation ("load+generate").
func BenchmarkGenerate1000Tenants(b *testing.B) {
	f, err := benchSetup()
	if err != nil {
		b.Fatal(err)
	}
	measureRefs(f)
	b.Logf("%d tenants, %d unit files, %d bytes; references: units.Bytes %.2f ms, buffer copy %.2f ms",
		len(f.set.Tenants), f.files, f.size, f.refBytes/1e6, f.refCopy/1e6)
	b.Run("generate", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := Generate(f.set, goldenOptions); err != nil {
				b.Fatal(err)
			}
		}
		report(b, f)
	})
	b.Run("load+generate", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			set, rep := manifest.LoadFS(f.fsys, "/etc/ehecoatl")
			if rep.HasErrors() {
				b.Fatal(rep)
			}
			if _, err := Generate(set, goldenOptions); err != nil {
				b.Fatal(err)
			}
		}
		report(b, f)
	})
}

// TestBenchFixture keeps the benchmark's input valid (benchmarks do not run
// in `go test`).
func TestBenchFixture(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the 1,000-tenant fixture")
	}
	f, err := benchSetup()
	if err != nil {
		t.Fatal(err)
	}
	// Per tenant: its slice; web's socket and service and its second
	// slot's (docs/OPERATIONS.md "Deploys"); api's socket, service and
	// bridge, and its second slot's (a port: app's slot has its own
	// bridge).
	if len(f.set.Tenants) != benchTenants || f.files != 2+benchTenants*11 {
		t.Fatalf("%d tenants, %d files", len(f.set.Tenants), f.files)
	}
}
