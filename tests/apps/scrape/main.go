// Command scrape prints one scrape of the usage metrics (package usage,
// docs/METRICS.md "Usage") of every app the boot-time generator rendered,
// in Prometheus's text format, as the router's /metrics will serve them:
// the scrape-time figure of issue 16 (tests/bench_apply_test.go) until the
// router's metrics listener serves them, when a curl of /metrics replaces
// it. On stderr: how long the scrape's parts took.
//
// The targets come from the unit files in the generator's directory, not
// from loading the manifests, so that the process costs little besides
// the scrape; worker templates are skipped (the fixtures have none).
package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/ehecoatl/ehecoatl/dbus"
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
	reg := prometheus.NewRegistry()
	reg.MustRegister(usage.NewCollector(func() []usage.Target { return targets }, usage.Options{
		Systemd: sd, OnError: func(err error) { readErr = err }}))
	t1 := time.Now()
	families, err := reg.Gather()
	if err != nil {
		return err
	}
	t2 := time.Now()
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	series := 0
	for _, mf := range families {
		series += len(mf.GetMetric())
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	t3 := time.Now()
	fmt.Fprintf(os.Stderr, "scrape_ns %d\ngather_ns %d\nencode_ns %d\nsetup_ns %d\nscrape: %d targets, %d series\n",
		t3.Sub(t1), t2.Sub(t1), t3.Sub(t2), t1.Sub(t0), len(targets), series)
	if readErr != nil {
		return readErr
	}
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
