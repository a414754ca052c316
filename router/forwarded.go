package router

import (
	"fmt"
	"net/netip"
	"strings"
)

// Forwarded headers (issue 12 point 6). A request from a peer in
// Config.TrustedProxies keeps its X-Forwarded-For (the peer's address
// appended), X-Forwarded-Proto, X-Forwarded-Host and Forwarded; from any
// other peer they are replaced (wire.WriteRequestHead). Whether a peer is
// trusted is decided once per connection, in newConn.

// trusts reports whether ip, a TCP peer's address, is in
// Config.TrustedProxies. An IPv4-mapped IPv6 address is matched as the
// IPv4 address; a zone is ignored.
func (rt *Router) trusts(ip string) bool {
	if len(rt.cfg.TrustedProxies) == 0 {
		return false
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.WithZone("").Unmap()
	for _, p := range rt.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// trustedPrefixes is ps as trusts matches them, in a new slice: masked,
// IPv4-mapped IPv6 prefixes (::ffff:10.0.0.0/104) as IPv4 ones, invalid
// (zero) prefixes left out.
func trustedPrefixes(ps []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range ps {
		if !p.IsValid() {
			continue
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out
}

// ParseTrustedProxies parses a list of trusted proxies, as
// EHECOATL_TRUSTED_PROXIES holds it: CIDR prefixes (10.0.0.0/8,
// 2001:db8::/32) or bare addresses (one address: /32, /128), separated by
// commas and/or white space. Empty is no proxy. The error names the
// first entry that is neither.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	}) {
		var p netip.Prefix
		var err error
		if strings.IndexByte(f, '/') >= 0 {
			p, err = netip.ParsePrefix(f)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(f); err == nil {
				if a.Zone() != "" {
					return nil, fmt.Errorf("trusted proxy %q: zones are not supported", f)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is not an IP address or CIDR prefix (10.0.0.0/8, 2001:db8::/32)", f)
		}
		out = append(out, p)
	}
	return out, nil
}

// secure reports whether the client reached the router over HTTPS: this
// connection is TLS, or a trusted proxy that ended TLS says so with
// X-Forwarded-Proto: https. Without the latter, a TLS-terminating proxy in
// front would loop on the router's redirect to HTTPS.
func (cc *clientConn) secure(req *request) bool {
	if cc.tls {
		return true
	}
	if !cc.trusted {
		return false
	}
	for _, f := range req.Forwarded {
		if len(f.Name) == len("X-Forwarded-Proto") && strings.EqualFold(f.Name, "X-Forwarded-Proto") {
			return strings.EqualFold(strings.TrimSpace(f.Value), "https")
		}
	}
	return false
}
