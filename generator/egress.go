package generator

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/ehecoatl/ehecoatl/manifest"
)

// An egress list says which networks an app may reach; the host itself is
// never part of it by accident (docs/MANIFEST.md "egress", docs/DESIGN.md
// "Network"). systemd lets through an address that both IPAddressAllow=
// and IPAddressDeny= match, so a deny entry for the host cannot carve it
// out of 0.0.0.0/0: the allow list itself must leave it out.

// hostRanges are the addresses that lead to this host (loopback, "this
// network", unspecified) or to its link (link-local, where cloud metadata
// services answer). A broader entry such as 0.0.0.0/0 does not reach
// them; an entry inside one of them names it explicitly and does.
var hostRanges = []struct {
	prefix   netip.Prefix
	loopback bool // reached through lo: lifts RestrictNetworkInterfaces=~lo
}{
	{netip.MustParsePrefix("0.0.0.0/8"), true},
	{netip.MustParsePrefix("127.0.0.0/8"), true},
	{netip.MustParsePrefix("169.254.0.0/16"), false},
	{netip.MustParsePrefix("::/127"), true}, // :: and ::1
	{netip.MustParsePrefix("fe80::/10"), false},
}

// egressAllow returns the IPAddressAllow= prefixes of an egress list: each
// entry minus the host ranges it contains without naming them, and
// whether the list names a loopback address (only then may the app use
// the lo interface where systemd can restrict interfaces; the host's own
// other addresses stay ehecoatl-firewall's, whatever the list says).
func egressAllow(list []netip.Prefix) (allow []netip.Prefix, loopback bool) {
	for _, e := range list {
		named := false
		for _, h := range hostRanges {
			if h.prefix.Bits() <= e.Bits() && h.prefix.Contains(e.Addr()) {
				named = true
				loopback = loopback || h.loopback
			}
		}
		if named {
			allow = append(allow, e)
			continue
		}
		parts := []netip.Prefix{e}
		for _, h := range hostRanges {
			var next []netip.Prefix
			for _, p := range parts {
				next = append(next, subtract(p, h.prefix)...)
			}
			parts = next
		}
		allow = append(allow, parts...)
	}
	slices.SortFunc(allow, func(a, b netip.Prefix) int {
		return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
	})
	return allow, loopback
}

// subtract returns q without p, as the fewest prefixes: q itself when
// they are disjoint, nothing when p covers q, else the sibling of every
// step on the way down from q to p.
func subtract(q, p netip.Prefix) []netip.Prefix {
	if q.Addr().Is4() != p.Addr().Is4() || !q.Overlaps(p) {
		return []netip.Prefix{q}
	}
	if p.Bits() <= q.Bits() {
		return nil
	}
	var out []netip.Prefix
	for c := q; c.Bits() < p.Bits(); {
		lo, hi := halves(c)
		if lo.Contains(p.Addr()) {
			out, c = append(out, hi), lo
		} else {
			out, c = append(out, lo), hi
		}
	}
	return out
}

// halves splits a prefix into its two sub-prefixes one bit longer.
func halves(c netip.Prefix) (lo, hi netip.Prefix) {
	b := c.Bits()
	a := c.Masked().Addr()
	lo = netip.PrefixFrom(a, b+1)
	s := a.AsSlice()
	s[b/8] |= 0x80 >> (b % 8)
	h, _ := netip.AddrFromSlice(s)
	return lo, netip.PrefixFrom(h, b+1)
}

// hostNetwork reports whether the app shares the host's network namespace:
// only an egress list puts it there (manifest refuses port: with one).
func hostNetwork(a *manifest.App) bool { return len(a.Egress) > 0 }
