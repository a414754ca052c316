package dbus

import (
	"testing"
	"time"
)

func TestStateSince(t *testing.T) {
	f, c := newFake(t)
	since := time.UnixMicro(1_700_000_000_000_000)
	f.AddUnit("ehecoatl-acme-web.socket", map[string]map[string]any{
		"Unit": {"ActiveState": "active", "SubState": "listening", "StateChangeTimestamp": uint64(since.UnixMicro())},
	})
	f.AddUnits("ehecoatl-acme-api.socket")
	got, err := c.StateSince(testCtx(t), []string{"ehecoatl-acme-web.socket", "ehecoatl-acme-api.socket"})
	if err != nil {
		t.Fatal(err)
	}
	if !got[0].Equal(since) || !got[1].IsZero() {
		t.Errorf("got %v, want [%v, zero]", got, since)
	}
}
