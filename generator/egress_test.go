package generator

import (
	"net/netip"
	"strings"
	"testing"
)

func TestEgressAllow(t *testing.T) {
	for _, c := range []struct {
		list     string
		loopback bool
		// reach and miss are addresses the result must and must not contain.
		reach, miss string
	}{
		{"0.0.0.0/0", false, "1.1.1.1 10.0.0.5 126.255.255.255 128.0.0.0 169.253.0.1 169.255.0.1 255.255.255.255",
			"127.0.0.1 127.255.255.254 0.0.0.0 0.1.2.3 169.254.169.254 ::1"},
		{"::/0", false, "2001:db8::1 fe7f::1 fec0::1 ::2", "::1 :: fe80::1 febf::ffff 1.1.1.1"},
		{"10.0.0.0/8", false, "10.1.2.3", "11.0.0.1 127.0.0.1"},
		{"10.0.0.5/32", false, "10.0.0.5", "10.0.0.6"},
		{"127.0.0.1/32", true, "127.0.0.1", "127.0.0.2 10.0.0.1"},
		{"169.254.169.254/32", false, "169.254.169.254", "169.254.0.1 127.0.0.1"},
		{"0.0.0.0/0 127.0.0.53/32", true, "1.1.1.1 127.0.0.53", "127.0.0.1 169.254.169.254"},
		{"::1/128", true, "::1", "::2"},
		{"64.0.0.0/2", false, "100.0.0.1", "127.0.0.1 128.0.0.1"},
	} {
		t.Run(c.list, func(t *testing.T) {
			var list []netip.Prefix
			for _, s := range strings.Fields(c.list) {
				list = append(list, netip.MustParsePrefix(s))
			}
			allow, loopback := egressAllow(list)
			if loopback != c.loopback {
				t.Errorf("loopback = %v, want %v", loopback, c.loopback)
			}
			in := func(a netip.Addr) bool {
				for _, p := range allow {
					if p.Contains(a) {
						return true
					}
				}
				return false
			}
			for _, s := range strings.Fields(c.reach) {
				if !in(netip.MustParseAddr(s)) {
					t.Errorf("%s is not allowed by %v", s, allow)
				}
			}
			for _, s := range strings.Fields(c.miss) {
				if in(netip.MustParseAddr(s)) {
					t.Errorf("%s is allowed by %v", s, allow)
				}
			}
			for i, p := range allow {
				if p != p.Masked() {
					t.Errorf("prefix %d %v has host bits", i, p)
				}
			}
		})
	}
}

// The allow list stays short enough to read in a unit: 0.0.0.0/0 minus
// three ranges, ::/0 minus two.
func TestEgressAllowSize(t *testing.T) {
	v4, _ := egressAllow([]netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")})
	v6, _ := egressAllow([]netip.Prefix{netip.MustParsePrefix("::/0")})
	t.Logf("0.0.0.0/0 -> %d prefixes, ::/0 -> %d", len(v4), len(v6))
	if len(v4) > 40 || len(v6) > 140 {
		t.Errorf("allow lists of %d and %d prefixes", len(v4), len(v6))
	}
}
