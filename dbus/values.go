package dbus

import (
	"math"
	"time"

	godbus "github.com/godbus/dbus/v5"
)

// NotSet is systemd's "[not set]" for unsigned 64-bit properties
// (UINT64_MAX): no accounting, no cgroup, or the unit is not running. UnitInfo
// never carries it; such values are nil pointers there.
const NotSet = uint64(math.MaxUint64)

// props are the values of one D-Bus GetAll reply. The accessors return the
// zero value for missing properties or unexpected types: older systemd
// versions lack some properties, and a status display must not fail on that.
type props map[string]godbus.Variant

func (p props) str(k string) string {
	s, _ := p[k].Value().(string)
	return s
}

func (p props) strs(k string) []string {
	s, _ := p[k].Value().([]string)
	return s
}

func (p props) boolean(k string) bool {
	b, _ := p[k].Value().(bool)
	return b
}

func (p props) u32(k string) uint32 {
	n, _ := p[k].Value().(uint32)
	return n
}

func (p props) i32(k string) int32 {
	n, _ := p[k].Value().(int32)
	return n
}

// u64 returns nil when the property is missing or NotSet.
func (p props) u64(k string) *uint64 {
	n, ok := p[k].Value().(uint64)
	if !ok || n == NotSet {
		return nil
	}
	return &n
}

// nsec reads a nanosecond counter (CPUUsageNSec) as a duration; nil when
// missing, NotSet, or beyond what a time.Duration holds.
func (p props) nsec(k string) *time.Duration {
	n := p.u64(k)
	if n == nil || *n > math.MaxInt64 {
		return nil
	}
	d := time.Duration(*n)
	return &d
}

// timestamp reads a systemd timestamp (microseconds since the epoch, 0 when
// the event never happened) as a time; the zero time for never or NotSet.
func (p props) timestamp(k string) time.Time {
	n, ok := p[k].Value().(uint64)
	if !ok || n == 0 || n > math.MaxInt64 { // also NotSet
		return time.Time{}
	}
	return time.UnixMicro(int64(n))
}
