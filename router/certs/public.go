package certs

import (
	"net/netip"
	"strings"

	"github.com/caddyserver/certmagic"
	"golang.org/x/net/publicsuffix"
)

// reservedSuffixes are names that no public CA certifies: special-use
// domains (RFC 6761, RFC 6762, RFC 8375, RFC 9476, RFC 7686), ICANN's
// .internal, and the second-level names RFC 2606 reserves for examples.
var reservedSuffixes = []string{
	"test", "localhost", "invalid", "example", "local", "internal",
	"home.arpa", "arpa", "alt", "onion",
	"example.com", "example.net", "example.org",
}

// Public reports whether domain can get a certificate from a public ACME CA:
// a DNS name of at least two labels, not an IP address, not under a reserved
// or special-use suffix (.test, .localhost, .internal, .example, .invalid,
// .local, .home.arpa, .alt, .onion, example.com/net/org), and not itself a
// public suffix (such as "co.uk"). A leading "*." is ignored. For a name
// that is not Public, tls: auto acts as off (GetCertificate refuses it and
// nothing is sent to the CA); such a domain needs tls: files.
func Public(domain string) bool {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
	d = strings.TrimPrefix(d, "*.")
	if d == "" || !strings.Contains(d, ".") {
		return false
	}
	if _, err := netip.ParseAddr(strings.Trim(d, "[]")); err == nil {
		return false
	}
	for _, s := range reservedSuffixes {
		if d == s || strings.HasSuffix(d, "."+s) {
			return false
		}
	}
	if !certmagic.SubjectQualifiesForPublicCert(d) {
		return false
	}
	if _, err := publicsuffix.EffectiveTLDPlusOne(d); err != nil {
		return false
	}
	return true
}
