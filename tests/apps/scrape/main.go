// Command scrape prints one scrape of the usage metrics (package usage,
// docs/METRICS.md "Usage") of every app the boot-time generator rendered,
// in Prometheus's text format, as the router's /metrics will serve them:
// the scrape-time figure of issue 16 (tests/bench_apply_test.go) until the
// router's metrics listener serves them, when a curl of /metrics replaces
// it. On stderr: how long each scrape and its parts took.
//
// The targets come from the unit files in the generator's directory, not
// from loading the manifests, so that the process costs little besides
// the scrape; worker templates are skipped (the fixtures have none).
package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ehecoatl/ehecoatl/dbus"
	"github.com/ehecoatl/ehecoatl/internal/promtext"
	"github.com/ehecoatl/ehecoatl/naming"
	"github.com/ehecoatl/ehecoatl/usage"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "scrape:", err)
		os.Exit(1)
	}
}

func run() error {
	t0 := time.Now()
	targets, err := targets(naming.GeneratorDir)
	if err != nil {
		return err
	}
	sd := &dbus.Client{}
	defer sd.Close()
	if _, err := sd.Conn(context.Background()); err != nil {
		return err
	}
	var readErr error
	c := usage.NewCollector(func() []usage.Target { return targets }, usage.Options{
		Systemd: sd, OnError: func(err error) { readErr = err }})
	setup := time.Since(t0)
	// The first scrape reads the restarts of every service; the router's
	// later ones only of those not inactive (usage.Reader): SCRAPE_REPEAT
	// scrapes (default 2) print the last, and the time of each.
	repeat := 2
	if n, err := strconv.Atoi(os.Getenv("SCRAPE_REPEAT")); err == nil && n > 0 {
		repeat = n
	}
	var buf []byte
	for i := 1; i <= repeat; i++ {
		t1 := time.Now()
		w := promtext.NewWriter(buf[:0], false)
		c.WriteMetrics(w)
		buf = w.Bytes()
		t2 := time.Now()
		if i == repeat {
			if _, err := os.Stdout.Write(buf); err != nil {
				return err
			}
		}
		series := bytes.Count(buf, []byte("\n")) - 2*bytes.Count(buf, []byte("\n# TYPE "))
		fmt.Fprintf(os.Stderr, "scrape %d: %d targets, %d series, read and written in %s\n", i, len(targets), series, t2.Sub(t1))
		if i == 1 {
			fmt.Fprintf(os.Stderr, "first_scrape_ns %d\n", t2.Sub(t1))
		}
		if i == repeat {
			fmt.Fprintf(os.Stderr, "scrape_ns %d\n", t2.Sub(t1))
		}
	}
	fmt.Fprintf(os.Stderr, "setup_ns %d\n", setup)
	if readErr != nil {
		return readErr
	}
	if os.Getenv("SCRAPE_PHASES") != "" {
		return phases(sd, targets)
	}
	return nil
}

// phases times the D-Bus parts of a reading apart (SCRAPE_PHASES=1).
func phases(sd *dbus.Client, targets []usage.Target) error {
	ctx := context.Background()
	if f := os.Getenv("SCRAPE_CPUPROFILE"); f != "" {
		out, err := os.Create(f)
		if err != nil {
			return err
		}
		defer out.Close()
		pprof.StartCPUProfile(out)
		defer pprof.StopCPUProfile()
	}
	t0 := time.Now()
	list, err := sd.ListUnitsIn(ctx, nil, "ehecoatl-*.service", "ehecoatl-*.slice")
	if err != nil {
		return err
	}
	t1 := time.Now()
	var names []string
	var ip []bool
	for _, u := range list {
		if strings.HasSuffix(u.Name, ".service") && u.LoadState == "loaded" {
			names, ip = append(names, u.Name), append(ip, u.ActiveState == "active")
		}
	}
	if _, err := sd.ServiceCounters(ctx, names, ip); err != nil {
		return err
	}
	t2 := time.Now()
	fmt.Fprintf(os.Stderr, "list_ns %d (%d units)\ncounters_ns %d (%d services)\n", t1.Sub(t0), len(list), t2.Sub(t1), len(names))
	return nil
}

// targets names the tenants' slices and the apps' services among the
// generator's unit files, in the order usage.AppTargets gives them.
func targets(dir string) ([]usage.Target, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []usage.Target
	for _, e := range entries {
		n := e.Name()
		tenant, app, _ := naming.Owner(n)
		switch {
		case !strings.HasPrefix(n, "ehecoatl-") || tenant == "" || strings.Contains(n, "@."):
		case app == "" && strings.HasSuffix(n, ".slice"):
			out = append(out, usage.Target{Tenant: tenant, Unit: n})
		case app != "" && strings.HasSuffix(n, ".service"):
			out = append(out, usage.Target{Tenant: tenant, App: app, Unit: n})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Tenant < out[j].Tenant })
	return out, nil
}
