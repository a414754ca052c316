package usage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ehecoatl/ehecoatl/dbus"
)

func TestRead(t *testing.T) {
	f, targets := acme()
	got, err := Read(context.Background(), f, "testdata/cgroup", targets)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(targets) {
		t.Fatalf("%d figures for %d targets", len(got), len(targets))
	}
	by := map[string]Figures{}
	for i, g := range got {
		if g.Target != targets[i] {
			t.Errorf("figure %d is of %+v, want %+v", i, g.Target, targets[i])
		}
		by[g.Unit] = g
	}

	slice := by["ehecoatl-acme.slice"]
	cg := slice.Cgroup
	if !slice.Loaded || slice.ActiveState != "active" || slice.Restarts != nil || cg == nil {
		t.Fatalf("slice: %+v", slice)
	}
	for what, c := range map[string][2]any{
		"cpu":      {cg.CPUUsec, uint64(7500000)},
		"memory":   {cg.MemoryBytes, uint64(104857600)},
		"peak":     {cg.MemoryPeak, uint64(209715200)},
		"max":      {cg.MemoryMax, uint64(536870912)},
		"tasks":    {cg.Tasks, uint64(12)},
		"tasksmax": {cg.TasksMax, uint64(256)},
		"ioread":   {cg.IOReadBytes, uint64(5096)}, // two devices summed
		"iowrite":  {cg.IOWriteBytes, uint64(8216)},
	} {
		if p := c[0].(*uint64); p == nil || *p != c[1].(uint64) {
			t.Errorf("slice %s = %v, want %d", what, p, c[1])
		}
	}
	if cg.CPUQuota == nil || *cg.CPUQuota != 1.5 {
		t.Errorf("slice quota %v, want 1.5 (CPUQuota=150%%)", cg.CPUQuota)
	}

	web := by["ehecoatl-acme-web.service"]
	if web.Restarts == nil || *web.Restarts != 1 || web.IPIngressBytes == nil || *web.IPIngressBytes != 1500 || *web.IPEgressBytes != 9000 {
		t.Errorf("web: %+v", web)
	}
	if c := web.Cgroup; c == nil || *c.CPUUsec != 2500000 || c.TasksMax != nil || c.CPUQuota != nil || *c.IOReadBytes != 0 || *c.IOWriteBytes != 0 {
		t.Errorf("web cgroup (no tasks or CPU limit, no IO yet): %+v", c)
	}
	// An older kernel and no io controller: absent, not zero.
	if c := by["ehecoatl-acme-api@2.service"].Cgroup; c == nil || c.MemoryPeak != nil || c.IOReadBytes != nil || c.IOWriteBytes != nil || c.MemoryMax != nil || *c.MemoryBytes != 4096 {
		t.Errorf("api@2 cgroup: %+v", c)
	}
	// Not running: a state and restarts, no cgroup, no IP bytes.
	for unit, restarts := range map[string]uint32{"ehecoatl-acme-idle.service": 2, "ehecoatl-acme-crash.service": 4} {
		g := by[unit]
		if g.Cgroup != nil || g.IPIngressBytes != nil || g.Restarts == nil || *g.Restarts != restarts {
			t.Errorf("%s: %+v", unit, g)
		}
	}
	if by["ehecoatl-acme-crash.service"].ActiveState != "failed" {
		t.Errorf("crash state %q", by["ehecoatl-acme-crash.service"].ActiveState)
	}
	// Not loaded: inactive, and systemd is not asked (a Get would load it).
	for _, unit := range []string{"ehecoatl-acme-web-next.service", "ehecoatl-acme-gone.service", "ehecoatl-globex.slice"} {
		if g := by[unit]; g.Loaded || g.ActiveState != "inactive" || g.Restarts != nil || g.Cgroup != nil {
			t.Errorf("%s: %+v", unit, g)
		}
	}
	slices.Sort(f.asked)
	if want := []string{"ehecoatl-acme-api@2.service", "ehecoatl-acme-crash.service", "ehecoatl-acme-idle.service", "ehecoatl-acme-web.service"}; !slices.Equal(f.asked, want) {
		t.Errorf("asked systemd for %v, want the loaded services %v", f.asked, want)
	}
	slices.Sort(f.askedIP)
	if want := []string{"ehecoatl-acme-api@2.service", "ehecoatl-acme-web.service"}; !slices.Equal(f.askedIP, want) {
		t.Errorf("asked IP bytes of %v, want the running %v", f.askedIP, want)
	}
	if want := []string{"ehecoatl-*.service", "ehecoatl-*.slice"}; !slices.Equal(f.patterns, want) {
		t.Errorf("listed %v, want %v in one call", f.patterns, want)
	}
}

func TestReadListError(t *testing.T) {
	f, targets := acme()
	f.listErr = errors.New("connect to systemd: no bus")
	got, err := Read(context.Background(), f, "testdata/cgroup", targets)
	if err == nil || !strings.Contains(err.Error(), "no bus") || got != nil {
		t.Fatalf("Read = %v, %v; want the list's error and no figures", got, err)
	}
}

// A cgroup that is not readable is that unit's error; the others are read.
func TestReadCgroupError(t *testing.T) {
	f := &fakeSystemd{units: []dbus.UnitStatus{
		{Name: "ehecoatl-acme.slice", LoadState: "loaded", ActiveState: "active"},
		{Name: "ehecoatl-acme-web.service", LoadState: "loaded", ActiveState: "active"},
	}}
	root := t.TempDir()
	dir := root + "/ehecoatl.slice/ehecoatl-acme.slice"
	mustMkdir(t, dir)
	// A directory where a file is: read fails with EISDIR.
	mustMkdir(t, dir+"/ehecoatl-acme-web.service/cpu.stat")
	mustWrite(t, dir+"/memory.current", "42\n")
	got, err := Read(context.Background(), f, root, []Target{{Tenant: "acme", Unit: "ehecoatl-acme.slice"}, {Tenant: "acme", App: "web", Unit: "ehecoatl-acme-web.service"}})
	if err == nil || !strings.Contains(err.Error(), "ehecoatl-acme-web.service/cpu.stat") {
		t.Fatalf("err = %v, want the cpu.stat of web named", err)
	}
	if got[0].Cgroup == nil || *got[0].Cgroup.MemoryBytes != 42 || got[1].Cgroup != nil {
		t.Errorf("figures: %+v %+v", got[0].Cgroup, got[1].Cgroup)
	}
}

// A Reader asks again for the restarts of running and failed services,
// keeps those of inactive ones, reads one that became inactive once, and
// refreshes RefreshPerRead of the kept ones per reading, oldest first.
func TestReaderKeepsInactiveRestarts(t *testing.T) {
	f := &fakeSystemd{counters: map[string]dbus.ServiceCounters{}}
	var targets []Target
	const idle = RefreshPerRead + 50
	for i := range idle {
		u := fmt.Sprintf("ehecoatl-t%03d-web.service", i)
		f.units = append(f.units, dbus.UnitStatus{Name: u, LoadState: "loaded", ActiveState: "inactive"})
		f.counters[u] = dbus.ServiceCounters{NRestarts: u32(uint32(i))}
		targets = append(targets, Target{Tenant: fmt.Sprintf("t%03d", i), App: "web", Unit: u})
	}
	f.units = append(f.units,
		dbus.UnitStatus{Name: "ehecoatl-run-web.service", LoadState: "loaded", ActiveState: "active"},
		dbus.UnitStatus{Name: "ehecoatl-bad-web.service", LoadState: "loaded", ActiveState: "failed"})
	f.counters["ehecoatl-run-web.service"] = dbus.ServiceCounters{NRestarts: u32(7)}
	f.counters["ehecoatl-bad-web.service"] = dbus.ServiceCounters{NRestarts: u32(4)}
	targets = append(targets, Target{"run", "web", "ehecoatl-run-web.service"}, Target{"bad", "web", "ehecoatl-bad-web.service"})
	r := &Reader{Systemd: f, Root: t.TempDir()}
	read := func() ([]Figures, []string) {
		f.mu.Lock()
		f.asked = nil
		f.mu.Unlock()
		figs, err := r.Read(context.Background(), targets)
		if err != nil {
			t.Fatal(err)
		}
		return figs, slices.Sorted(slices.Values(f.asked))
	}
	figs, asked := read()
	if len(asked) != idle+2 {
		t.Fatalf("first reading asked %d services, want all %d", len(asked), idle+2)
	}
	// The counters change behind the Reader's back: only what it asks
	// shows the change.
	for i := range idle {
		f.counters[targets[i].Unit] = dbus.ServiceCounters{NRestarts: u32(1000)}
	}
	f.counters["ehecoatl-run-web.service"] = dbus.ServiceCounters{NRestarts: u32(8)}
	figs, asked = read()
	if len(asked) != 2+RefreshPerRead || !slices.Contains(asked, "ehecoatl-run-web.service") || !slices.Contains(asked, "ehecoatl-bad-web.service") {
		t.Errorf("second reading asked %d: %v; want the running, the failed and %d kept ones", len(asked), asked, RefreshPerRead)
	}
	refreshed := 0
	for i := range idle {
		switch got := *figs[i].Restarts; got {
		case 1000:
			refreshed++
		case uint32(i):
		default:
			t.Errorf("%s: restarts %d", targets[i].Unit, got)
		}
	}
	if refreshed != RefreshPerRead || *figs[idle].Restarts != 8 {
		t.Errorf("refreshed %d, want %d; running %d, want 8", refreshed, RefreshPerRead, *figs[idle].Restarts)
	}
	// The third reading refreshes the 50 not refreshed yet first.
	figs, _ = read()
	for i := range idle {
		if got := *figs[i].Restarts; got != 1000 {
			t.Errorf("third reading: %s restarts %d, want 1000 (refreshed by now)", targets[i].Unit, got)
		}
	}
	// A service that stops is read once more, then kept.
	f.units[idle].ActiveState = "inactive"
	f.counters["ehecoatl-run-web.service"] = dbus.ServiceCounters{NRestarts: u32(9)}
	figs, asked = read()
	if !slices.Contains(asked, "ehecoatl-run-web.service") || *figs[idle].Restarts != 9 {
		t.Errorf("a service that stopped was not read again: asked %v, restarts %d", asked, *figs[idle].Restarts)
	}
}
