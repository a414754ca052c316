package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/tests/harness"
)

// TestBenchScale measures the first apply against the number of tenants,
// each N in a freshly booted guest of its own (docs/DESIGN.md "Apply at
// scale"), so that what grows faster than the units shows. It is a
// benchmark: EHECOATL_BENCH_SCALE lists the tenant counts
// ("250,500,1000"). For every N it prints, besides wall times, PID 1's
// CPU time (from /proc/1/stat, so less dependent on what else runs):
//
//   - reference: 2N minimal sockets with their services written to
//     /run/systemd/system, daemon-reload (which loads nothing: the target
//     is wanted by nobody) and the start of their target;
//   - ehecoatl: the first apply of N tenants x 2 apps, its PID 1 CPU, and
//     a cold start of ehecoatl.target, after `systemctl stop
//     ehecoatl.slice` has stopped every unit (median of 3): the first
//     apply's listen without its reload.
//
// EHECOATL_BENCH_SCALE_BEFORE names a directory holding the ehecoatl and
// ehecoatl-generator binaries of other code, measured the same way as
// "before" in the same run.
func TestBenchScale(t *testing.T) {
	list := os.Getenv("EHECOATL_BENCH_SCALE")
	if list == "" {
		t.Skip("benchmark: set EHECOATL_BENCH_SCALE=250,500,1000")
	}
	variants := []string{"reference", "ehecoatl"}
	before := os.Getenv("EHECOATL_BENCH_SCALE_BEFORE")
	if before != "" {
		variants = append(variants, "before")
	}
	var rows []string
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 9999 {
			t.Fatalf("EHECOATL_BENCH_SCALE=%q: %q is not a tenant count (1-9999)", list, f)
		}
		for _, v := range variants {
			t.Run(fmt.Sprintf("%s/%d", v, n), func(t *testing.T) {
				files := installed()
				if v == "before" {
					files["/usr/bin/ehecoatl"] = filepath.Join(before, "ehecoatl")
					files["/usr/lib/systemd/system-generators/ehecoatl-generator"] = filepath.Join(before, "ehecoatl-generator")
				}
				h := &host{t: t, m: harness.BootT(t, harness.Options{Files: files})}
				var row string
				if v == "reference" {
					row = scaleReference(h, n)
				} else {
					row = scaleApply(h, n)
				}
				t.Logf("%s N=%d: %s", v, n, row)
				rows = append(rows, fmt.Sprintf("%-9s %5d  %s", v, n, row))
			})
		}
	}
	t.Logf("SUMMARY (make bench-scale; PID 1 CPU from /proc/1/stat)\n%s", strings.Join(rows, "\n"))
}

// pid1CPU is the shell expression of PID 1's own CPU time in ms.
const pid1CPU = `$(awk '{print ($14+$15)*10}' /proc/1/stat)`

func scaleReference(h *host, n int) string {
	h.t.Helper()
	out := h.sh(fmt.Sprintf(`set -e
python3 -c '
import os
d = "/run/systemd/system"
os.makedirs(d + "/bench.target.wants")
for i in range(1, %d):
    open("%%s/bench-s%%d.socket" %% (d, i), "w").write("[Socket]\nListenStream=/run/bench/s%%d.sock\n" %% i)
    open("%%s/bench-s%%d.service" %% (d, i), "w").write("[Service]\nExecStart=/bin/true\n")
    os.symlink("../bench-s%%d.socket" %% i, "%%s/bench.target.wants/bench-s%%d.socket" %% (d, i))
open(d + "/bench.target", "w").write("[Unit]\nDescription=bench reference\n")
'
c0=%[2]s; a=$(date +%%s%%N); systemctl daemon-reload; c1=%[2]s; b=$(date +%%s%%N)
systemctl start bench.target; c2=%[2]s; e=$(date +%%s%%N)
echo "reload_ns $((b-a))"; echo "reload_cpu $((c1-c0))"; echo "start_ns $((e-b))"; echo "start_cpu $((c2-c1))"
echo "listening $(systemctl list-units --no-legend --state=listening 'bench-s*.socket' | wc -l)"`, 2*n+1, pid1CPU))
	if got := intField(out, "listening"); got != 2*n {
		h.t.Fatalf("reference: %d sockets listen, want %d", got, 2*n)
	}
	return fmt.Sprintf("reload %s (PID 1 %d ms); start of %d sockets %s (PID 1 %d ms)",
		ms(field(out, "reload_ns")), intField(out, "reload_cpu"), 2*n, ms(field(out, "start_ns")), intField(out, "start_cpu"))
}

func scaleApply(h *host, n int) string {
	h.t.Helper()
	bigFixture(h, n)
	out := h.sh(`c0=` + pid1CPU + `; ehecoatl apply --timings /srv/big; c1=` + pid1CPU + `
echo "apply_cpu $((c1-c0))"`)
	var cold []time.Duration
	var coldCPU []int
	for i := 0; i < 3; i++ {
		o := h.sh(`systemctl stop ehecoatl.slice
c0=` + pid1CPU + `; a=$(date +%s%N); systemctl start ehecoatl.target; b=$(date +%s%N); c1=` + pid1CPU + `
echo "start_ns $((b-a))"; echo "start_cpu $((c1-c0))"
echo "listening $(systemctl list-units --no-legend --state=listening 'ehecoatl-*.socket' | wc -l)"`)
		if got := intField(o, "listening"); got != 2*n {
			h.t.Fatalf("after the start of ehecoatl.target %d app sockets listen, want %d", got, 2*n)
		}
		cold = append(cold, field(o, "start_ns"))
		coldCPU = append(coldCPU, intField(o, "start_cpu"))
	}
	sort.Ints(coldCPU)
	return fmt.Sprintf("first apply %s: reload %s, listen %s (PID 1 %d ms in all); cold start of ehecoatl.target %s (PID 1 %d ms, median of 3)",
		ms(phase(out, "total")), ms(phase(out, "step:daemon-reload")), ms(phase(out, "step:listen")), intField(out, "apply_cpu"),
		ms(median(cold)), coldCPU[1])
}

// intField reads a "name <integer>" line.
func intField(out, name string) int { return int(field(out, name)) }
