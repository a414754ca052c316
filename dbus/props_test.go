package dbus

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/dbus/internal/fakesystemd"
)

func TestUnit(t *testing.T) {
	f, c := newFake(t)
	since := time.UnixMicro(1_700_000_000_000_000)
	f.AddUnit("ehecoatl-acme-web.service", map[string]map[string]any{
		"Unit": {"ActiveState": "active", "SubState": "running", "StateChangeTimestamp": uint64(since.UnixMicro()),
			"ActiveEnterTimestamp": uint64(since.UnixMicro()), "InactiveEnterTimestamp": fakesystemd.NotSet,
			"NeedDaemonReload": true, "TriggeredBy": []string{"ehecoatl-acme-web.socket"}},
		"Service": {"MainPID": uint32(4242), "NRestarts": uint32(3), "MemoryCurrent": uint64(50 << 20),
			"CPUUsageNSec": uint64(1_500_000_000), "TasksCurrent": fakesystemd.NotSet,
			"Result": "exit-code", "ExecMainCode": int32(1), "ExecMainStatus": int32(3)},
	})
	f.AddUnit("ehecoatl-acme-web.socket", map[string]map[string]any{
		"Unit":   {"ActiveState": "active", "SubState": "listening", "Triggers": []string{"ehecoatl-acme-web.service"}},
		"Socket": {"NAccepted": uint32(9), "NConnections": uint32(2)},
	})
	f.AddUnit("ehecoatl-acme.slice", map[string]map[string]any{
		"Unit":  {"ActiveState": "active", "SubState": "active"},
		"Slice": {"MemoryCurrent": uint64(1 << 30), "TasksCurrent": uint64(12)},
	})
	f.AddUnits("ehecoatl-acme-web@1.service")
	ctx := testCtx(t)

	svc, err := c.Unit(ctx, "ehecoatl-acme-web.service")
	if err != nil {
		t.Fatal(err)
	}
	if svc.Type != "service" || svc.LoadState != "loaded" || svc.ActiveState != "active" || svc.SubState != "running" ||
		svc.UnitFileState != "generated" || svc.FragmentPath != "/run/systemd/generator/ehecoatl-acme-web.service" ||
		!svc.NeedDaemonReload || !svc.Since.Equal(since) || !svc.ActiveEnter.Equal(since) || !svc.InactiveEnter.IsZero() ||
		!slices.Equal(svc.TriggeredBy, []string{"ehecoatl-acme-web.socket"}) {
		t.Errorf("unit properties: %+v", svc)
	}
	if svc.MainPID != 4242 || svc.NRestarts != 3 || svc.Result != "exit-code" || svc.ExecMainCode != 1 || svc.ExecMainStatus != 3 {
		t.Errorf("service properties: %+v", svc)
	}
	if svc.MemoryCurrent == nil || *svc.MemoryCurrent != 50<<20 || svc.CPUUsage == nil || *svc.CPUUsage != 1500*time.Millisecond {
		t.Errorf("accounting: memory %v cpu %v", deref(svc.MemoryCurrent), deref(svc.CPUUsage))
	}
	if svc.TasksCurrent != nil {
		t.Errorf("TasksCurrent [not set] shown as %d, want nil", *svc.TasksCurrent)
	}

	sock, err := c.Unit(ctx, "ehecoatl-acme-web.socket")
	if err != nil {
		t.Fatal(err)
	}
	if sock.SubState != "listening" || sock.NAccepted != 9 || sock.NConnections != 2 || sock.MemoryCurrent != nil ||
		!slices.Equal(sock.Triggers, []string{"ehecoatl-acme-web.service"}) {
		t.Errorf("socket: %+v", sock)
	}

	slice, err := c.Unit(ctx, "ehecoatl-acme.slice")
	if err != nil {
		t.Fatal(err)
	}
	if slice.MemoryCurrent == nil || *slice.MemoryCurrent != 1<<30 || slice.TasksCurrent == nil || *slice.TasksCurrent != 12 || slice.CPUUsage != nil {
		t.Errorf("slice accounting: %v %v %v", deref(slice.MemoryCurrent), deref(slice.TasksCurrent), deref(slice.CPUUsage))
	}

	// Names with '-', '@' and '.' travel escaped in the object path.
	if w, err := c.Unit(ctx, "ehecoatl-acme-web@1.service"); err != nil || w.Name != "ehecoatl-acme-web@1.service" || w.LoadState != "loaded" {
		t.Errorf("template instance: %+v %v", w, err)
	}
	// An inactive unit costs one call: its Service interface is not read.
	if slices.Contains(f.Calls(), "GetAll ehecoatl-acme-web@1.service org.freedesktop.systemd1.Service") ||
		!slices.Contains(f.Calls(), "GetAll ehecoatl-acme-web.service org.freedesktop.systemd1.Service") {
		t.Errorf("type interface reads: %q", f.Calls())
	}
}

func TestUnitNotFound(t *testing.T) {
	f, c := newFake(t)
	info, err := c.Unit(testCtx(t), "ehecoatl-nope-web.service")
	if err != nil {
		t.Fatal(err)
	}
	if info.LoadState != "not-found" || info.ActiveState != "inactive" || info.MemoryCurrent != nil {
		t.Errorf("not-found unit: %+v", info)
	}
	for _, call := range f.Calls() {
		if strings.Contains(call, "org.freedesktop.systemd1.Service") {
			t.Errorf("read the Service interface of a unit that does not exist: %s", call)
		}
	}
}

func TestUnits(t *testing.T) {
	f, c := newFake(t)
	var names []string
	for i := range 100 {
		names = append(names, "u"+string(rune('a'+i%26))+strings.Repeat("x", i/26)+".service")
	}
	f.AddUnits(names...)
	withBad := slices.Insert(slices.Clone(names), 50, "")
	infos, err := c.Units(testCtx(t), withBad)
	if err == nil || !strings.Contains(err.Error(), "empty unit name") {
		t.Errorf("want the error of the bad name, got %v", err)
	}
	if len(infos) != len(withBad) || infos[50] != nil {
		t.Fatalf("want %d entries with nil at 50, got %d", len(withBad), len(infos))
	}
	for i, info := range infos {
		if i != 50 && (info == nil || info.Name != withBad[i] || info.LoadState != "loaded") {
			t.Errorf("entry %d: %+v, want %s", i, info, withBad[i])
		}
	}
}
