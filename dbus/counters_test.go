package dbus

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ehecoatl/ehecoatl/dbus/internal/fakesystemd"
)

// More services than countersInFlight, so that the window refills; IP
// bytes only where asked, NotSet read as nil.
func TestServiceCounters(t *testing.T) {
	f, c := newFake(t)
	const n = 3*countersInFlight + 5
	var names []string
	var ip []bool
	for i := range n {
		name := fmt.Sprintf("ehecoatl-t%d-web.service", i)
		f.AddUnit(name, map[string]map[string]any{"Service": {
			"NRestarts":      uint32(i),
			"IPIngressBytes": uint64(1000 + i),
			"IPEgressBytes":  uint64(2000 + i),
		}})
		names = append(names, name)
		ip = append(ip, i%2 == 0)
	}
	// IPAccounting off: systemd answers NotSet.
	f.AddUnit("ehecoatl-off-web.service", map[string]map[string]any{"Service": {
		"IPIngressBytes": fakesystemd.NotSet, "IPEgressBytes": fakesystemd.NotSet}})
	names, ip = append(names, "ehecoatl-off-web.service"), append(ip, true)

	got, err := c.ServiceCounters(testCtx(t), names, ip)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(names) {
		t.Fatalf("%d results for %d names", len(got), len(names))
	}
	for i := range n {
		g := got[i]
		if g.NRestarts == nil || *g.NRestarts != uint32(i) {
			t.Errorf("%s: NRestarts %v, want %d", names[i], g.NRestarts, i)
		}
		switch {
		case !ip[i] && (g.IPIngressBytes != nil || g.IPEgressBytes != nil):
			t.Errorf("%s: IP bytes read though not asked for", names[i])
		case ip[i] && (g.IPIngressBytes == nil || *g.IPIngressBytes != uint64(1000+i) || g.IPEgressBytes == nil || *g.IPEgressBytes != uint64(2000+i)):
			t.Errorf("%s: IP bytes %v %v, want %d %d", names[i], g.IPIngressBytes, g.IPEgressBytes, 1000+i, 2000+i)
		}
	}
	if off := got[n]; off.NRestarts == nil || off.IPIngressBytes != nil || off.IPEgressBytes != nil {
		t.Errorf("IPAccounting off: %+v, want NRestarts 0 and no IP bytes", off)
	}
}

// A property systemd does not have is an error of that unit alone.
func TestServiceCountersError(t *testing.T) {
	f, c := newFake(t)
	f.AddUnit("ehecoatl-a-web.service", map[string]map[string]any{"Service": {"NRestarts": uint32(2)}})
	f.AddUnit("ehecoatl-b-web.service", map[string]map[string]any{"Service": {"NRestarts": uint32(5)}})
	got, err := c.ServiceCounters(testCtx(t), []string{"ehecoatl-a-web.service", "ehecoatl-b-web.service"}, []bool{true, false})
	if err == nil || !strings.Contains(err.Error(), "IPIngressBytes of ehecoatl-a-web.service") {
		t.Fatalf("err = %v, want the missing IPIngressBytes of a named", err)
	}
	if got[0].NRestarts == nil || *got[0].NRestarts != 2 || got[0].IPIngressBytes != nil {
		t.Errorf("a: %+v", got[0])
	}
	if got[1].NRestarts == nil || *got[1].NRestarts != 5 {
		t.Errorf("b: %+v", got[1])
	}
}
