package dbus

import (
	"testing"
	"time"

	godbus "github.com/godbus/dbus/v5"
)

func TestPropsNotSet(t *testing.T) {
	p := props{
		"set":      godbus.MakeVariant(uint64(1234)),
		"zero":     godbus.MakeVariant(uint64(0)),
		"notset":   godbus.MakeVariant(NotSet),
		"wrong":    godbus.MakeVariant("1234"),
		"huge":     godbus.MakeVariant(uint64(1) << 63),
		"ts":       godbus.MakeVariant(uint64(1_700_000_000_123_456)),
		"u32":      godbus.MakeVariant(uint32(7)),
		"i32":      godbus.MakeVariant(int32(-9)),
		"strs":     godbus.MakeVariant([]string{"a", "b"}),
		"boolean":  godbus.MakeVariant(true),
		"astring":  godbus.MakeVariant("x"),
		"u32wrong": godbus.MakeVariant(uint64(7)),
	}
	u64 := []struct {
		key  string
		want *uint64
	}{
		{"set", ptr(uint64(1234))}, {"zero", ptr(uint64(0))}, {"notset", nil}, {"wrong", nil}, {"missing", nil},
	}
	for _, tt := range u64 {
		got := p.u64(tt.key)
		if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
			t.Errorf("u64(%s) = %v, want %v", tt.key, deref(got), deref(tt.want))
		}
	}
	if d := p.nsec("set"); d == nil || *d != 1234*time.Nanosecond {
		t.Errorf("nsec(set) = %v", d)
	}
	for _, k := range []string{"notset", "huge", "missing"} {
		if d := p.nsec(k); d != nil {
			t.Errorf("nsec(%s) = %v, want nil", k, *d)
		}
	}
	if got, want := p.timestamp("ts"), time.UnixMicro(1_700_000_000_123_456); !got.Equal(want) {
		t.Errorf("timestamp(ts) = %v, want %v", got, want)
	}
	for _, k := range []string{"zero", "notset", "huge", "wrong", "missing"} {
		if got := p.timestamp(k); !got.IsZero() {
			t.Errorf("timestamp(%s) = %v, want zero", k, got)
		}
	}
	if p.u32("u32") != 7 || p.u32("u32wrong") != 0 || p.i32("i32") != -9 || !p.boolean("boolean") ||
		p.str("astring") != "x" || p.str("set") != "" || len(p.strs("strs")) != 2 || p.strs("missing") != nil {
		t.Errorf("scalar accessors wrong: %d %d %d %v %q %q %v", p.u32("u32"), p.u32("u32wrong"), p.i32("i32"),
			p.boolean("boolean"), p.str("astring"), p.str("set"), p.strs("strs"))
	}
}

func TestUnitPath(t *testing.T) {
	tests := map[string]godbus.ObjectPath{
		"ehecoatl-acme-web.socket":    "/org/freedesktop/systemd1/unit/ehecoatl_2dacme_2dweb_2esocket",
		"ehecoatl-acme-web@1.service": "/org/freedesktop/systemd1/unit/ehecoatl_2dacme_2dweb_401_2eservice",
		"1x.service":                  "/org/freedesktop/systemd1/unit/_31x_2eservice",
		"a\x01b":                      "/org/freedesktop/systemd1/unit/a_01b",
		"a_b":                         "/org/freedesktop/systemd1/unit/a_5fb",
	}
	for name, want := range tests {
		if got := unitPath(name); got != want || !got.IsValid() {
			t.Errorf("unitPath(%q) = %q, want %q", name, got, want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
