package manifest

import (
	"math"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	ok := map[string]int64{
		"0": 0, "1": 1, "1024": 1024, "1K": 1 << 10, "512M": 512 << 20, "1G": 1 << 30, "2T": 2 << 40,
		"8388607T": 8388607 << 40,
	}
	for in, want := range ok {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	bad := map[string]string{
		"":                     "size is empty",
		"1GB":                  `size "1GB" has an unsupported unit "GB"`,
		"1GiB":                 `size "1GiB" has an unsupported unit "GiB"`,
		"1g":                   `size "1g" has an unsupported unit "g"`,
		"512B":                 `size "512B" has an unsupported unit "B"`,
		"-1M":                  `size "-1M" is negative`,
		"+1M":                  `size "+1M" has a sign`,
		"1.5G":                 `size "1.5G" is not a whole number`,
		"1 G":                  `size "1 G" contains a space`,
		"G":                    `size "G" does not start with a number`,
		"1P":                   `size "1P" has an unsupported unit "P"`,
		"8388608T":             `size "8388608T" is too large`,
		"99999999999999999999": `size "99999999999999999999" is too large`,
		"1MM":                  `size "1MM" has an unsupported unit "MM"`,
	}
	for in, want := range bad {
		if _, err := ParseSize(in); err == nil || err.Error() != want {
			t.Errorf("ParseSize(%q) error = %v; want %q", in, err, want)
		}
	}
	if _, p := parseSize("1.5G"); p.hint != "use a whole number of a smaller unit, e.g. 1536M" {
		t.Errorf("hint for 1.5G: %q", p.hint)
	}
	if _, p := parseSize("0.3G"); p.hint == "use a whole number of a smaller unit, e.g. 307M" {
		t.Errorf("0.3G has no exact M equivalent, yet the hint says %q", p.hint)
	}
}

func TestParsePercent(t *testing.T) {
	for in, want := range map[string]int{"0%": 0, "1%": 1, "150%": 150, "100000%": 100000} {
		if got, err := ParsePercent(in); err != nil || got != want {
			t.Errorf("ParsePercent(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "150", "%", "1.5%", "-5%", "150 %", "15O%", "9999999999%"} {
		if _, err := ParsePercent(in); err == nil {
			t.Errorf("ParsePercent(%q) accepted", in)
		}
	}
}

func TestParseDuration(t *testing.T) {
	ok := map[string]time.Duration{
		"0": 0, "0s": 0, "2s": 2 * time.Second, "15m": 15 * time.Minute, "1h30m": 90 * time.Minute,
		"250ms": 250 * time.Millisecond, "1h2m3s4ms": time.Hour + 2*time.Minute + 3*time.Second + 4*time.Millisecond,
		"2562047h": 2562047 * time.Hour,
	}
	for in, want := range ok {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	bad := map[string]string{
		"":               "duration is empty",
		"15":             `duration "15" has no unit`,
		"15 minutes":     `duration "15 minutes" contains a space`,
		" 15m":           `duration " 15m" contains a space`,
		"1.5h":           `duration "1.5h" is not a whole number`,
		"1d":             `duration "1d" has an unsupported unit "d"`,
		"15min":          `duration "15min" has an unsupported unit "min"`,
		"-1s":            `duration "-1s" is negative`,
		"1s1h":           `duration "1s1h" repeats a unit or has units out of order`,
		"1m1m":           `duration "1m1m" repeats a unit or has units out of order`,
		"1us":            `duration "1us" has an unsupported unit "us"`,
		"h":              `duration "h" is not valid`,
		"2562048h":       `duration "2562048h" is too long`,
		"2562047h47m17s": `duration "2562047h47m17s" is too long`,
	}
	for in, want := range bad {
		if _, err := ParseDuration(in); err == nil || err.Error() != want {
			t.Errorf("ParseDuration(%q) error = %v; want %q", in, err, want)
		}
	}
	if _, p := parseDuration("15min"); p.hint != "write 15m" {
		t.Errorf("hint for 15min: %q", p.hint)
	}
	if math.MaxInt64 < int64(2562047*time.Hour) {
		t.Fatal("test assumption broken")
	}
}

func TestNormalizeDomain(t *testing.T) {
	ok := map[string]string{
		"example.com":           "example.com",
		"Example.COM.":          "example.com",
		"shop.example.com:8443": "shop.example.com",
		"*.Shops.Example.com":   "*.shops.example.com",
		"*.example.com.:443":    "*.example.com",
		"acme.localhost":        "acme.localhost",
		"acme.co.uk":            "acme.co.uk",
		"*.acme.co.uk":          "*.acme.co.uk",
		"*.acme.github.io":      "*.acme.github.io",
		"*.example.test":        "*.example.test",
		"1.example.test":        "1.example.test",
		"a.0xg":                 "a.0xg",
		"xn--bcher-kva.example": "xn--bcher-kva.example",
		"a-b.example.com":       "a-b.example.com",
	}
	for in, want := range ok {
		if got, err := NormalizeDomain(in); err != nil || got != want {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"", ".", "..", "*", "*.", "*.com", "a.*.com", "**.example.com", "*example.com",
		"exa mple.com", "example.com\n", "exa%6dple.com", "under_score.com", "bücher.de",
		"http://example.com", "example.com/x", "-a.com", "a-.com", "a..com", ".a.com",
		"example.com:", "example.com:0", "example.com:65536", "example.com:x", "[::1]", "::1",
		"a.com..", string(make([]byte, 64)) + ".com",
		// IP literals and what clients read as one (issue 8).
		"127.0.0.1", "169.254.169.254", "127.0.0.1:8080", "127.0.0.1.", "[::1]:443", "::ffff:127.0.0.1",
		"2130706433", "127.1", "0x7f.0.0.1", "x.0x7f", "X.0X7F", "*.0.0.1",
		// Public suffixes and wildcards directly below one.
		"localhost", "com", "co.uk", "github.io", "*.co.uk", "*.github.io", "*.test",
	} {
		if got, err := NormalizeDomain(in); err == nil {
			t.Errorf("NormalizeDomain(%q) = %q, accepted", in, got)
		}
	}
	long := ""
	for len(long) < 260 {
		long += "abcdefghi."
	}
	if _, err := NormalizeDomain(long + "com"); err == nil {
		t.Errorf("a %d-character domain was accepted", len(long)+3)
	}
}

func TestValidName(t *testing.T) {
	for _, s := range []string{"a", "acme", "a_b", "a1", "abcdefghijklmnopqrstuvwxyz01234"} {
		if err := ValidName(s); err != nil {
			t.Errorf("ValidName(%q) = %v", s, err)
		}
	}
	bad := map[string]string{
		"":                                 `name is empty; use lower-case letters a-z, digits and _, starting with a letter, e.g. "acme"`,
		"Acme":                             `name "Acme" contains upper-case letters; use "acme"`,
		"a-b":                              `name "a-b" contains "-", which systemd reads as a slice hierarchy separator; use "a_b"`,
		"../x":                             `name "../x" contains invalid characters "." and "/"; use only a-z, 0-9 and _, starting with a letter`,
		"a.b":                              `name "a.b" contains invalid character "."; use "a_b"`,
		"_a":                               `name "_a" does not start with a letter; start it with a letter a-z`,
		"1a":                               `name "1a" does not start with a letter; start it with a letter a-z`,
		"abcdefghijklmnopqrstuvwxyz012345": `name "abcdefghijklmnopqrstuvwxyz012345" is 32 characters long; at most 31 are allowed; use "abcdefghijklmnopqrstuvwxyz01234"`,
		"a\nb":                             `name "a\nb" contains invalid character "\n"; use only a-z, 0-9 and _, starting with a letter`,
	}
	for in, want := range bad {
		if err := ValidName(in); err == nil || err.Error() != want {
			t.Errorf("ValidName(%q) = %v; want %q", in, err, want)
		}
	}
}

func TestURLPath(t *testing.T) {
	ok := map[string]string{"/": "/", "/blog": "/blog", "/blog/": "/blog", "/a/b": "/a/b", "/a-b_c~d.e": "/a-b_c~d.e", "/@x:y": "/@x:y"}
	for in, want := range ok {
		if got, p := checkURLPath("path", in, true); p != nil || got != want {
			t.Errorf("path %q = %q, %v; want %q", in, got, p, want)
		}
	}
	for _, in := range []string{"", "blog", "/a//b", "/a/../b", "/./a", "/a/.", "/a%20b", "/a b", "/a?b", "/a#b", "/a\nb", "/ä", "/a\\b"} {
		if got, p := checkURLPath("path", in, true); p == nil {
			t.Errorf("path %q accepted as %q", in, got)
		}
	}
	if got, p := checkURLPath("health", "/healthz/", false); p != nil || got != "/healthz/" {
		t.Errorf("health keeps its trailing slash: %q %v", got, p)
	}
}

func TestEgressEntry(t *testing.T) {
	ok := map[string]string{"10.0.0.5": "10.0.0.5/32", "10.0.0.0/8": "10.0.0.0/8", "0.0.0.0/0": "0.0.0.0/0", "::/0": "::/0", "2001:db8::1": "2001:db8::1/128"}
	for in, want := range ok {
		if got, p := parseEgressEntry(in); p != nil || got.String() != want {
			t.Errorf("egress %q = %v, %v; want %s", in, got, p, want)
		}
	}
	for _, in := range []string{"", "any", "all", "*", "none", "10.0.0.300/32", "10.0.0.5/8", "10.0.0.0/33", "fe80::1%eth0", "example.com", "10.0.0.0/8\n"} {
		if got, p := parseEgressEntry(in); p == nil {
			t.Errorf("egress %q accepted as %v", in, got)
		}
	}
}

func TestSecretName(t *testing.T) {
	for _, s := range []string{"stripe_key", "a", "tls.crt", "key-1", "_x", "0abc"} {
		if p := checkSecretName(s); p != nil {
			t.Errorf("secret %q: %v", s, p)
		}
	}
	for _, s := range []string{"", ".x", "-x", "a/b", "..", "a..b", "a b", "a\nb", string(make([]byte, 65))} {
		if p := checkSecretName(s); p == nil {
			t.Errorf("secret %q accepted", s)
		}
	}
}

func TestFindingString(t *testing.T) {
	cases := []struct {
		f    Finding
		want string
	}{
		{Finding{File: "tenants/acme.yaml", Line: 12, Col: 7, Path: "apps.web.egress", Message: "bad", Hint: "fix"},
			"tenants/acme.yaml:12:7 apps.web.egress: bad (hint: fix)"},
		{Finding{File: "tenants/acme.yaml", Line: 3, Message: "invalid YAML: x"}, "tenants/acme.yaml:3: invalid YAML: x"},
		{Finding{File: "tenants/acme.yaml", Message: "empty manifest", Hint: "h"}, "tenants/acme.yaml: empty manifest (hint: h)"},
		{Finding{Severity: Warning, File: "tenants/README.md", Message: "ignored"}, "tenants/README.md: warning: ignored"},
		{Finding{Message: "cannot read"}, "cannot read"},
		{Finding{Path: "apps.web", Message: "m"}, "apps.web: m"},
		{Finding{File: "tenants/a\nb.yaml", Message: "m\nx"}, `tenants/a\nb.yaml: m\nx`},
	}
	for _, c := range cases {
		if got := c.f.String(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
	r := &Report{Findings: []Finding{cases[0].f, {Severity: Warning, Message: "w"}}}
	if !r.HasErrors() || r.String() != cases[0].want+"\nwarning: w\n" {
		t.Errorf("report: %v %q", r.HasErrors(), r.String())
	}
	if e, w := r.Count(); e != 1 || w != 1 {
		t.Errorf("count = %d, %d", e, w)
	}
	if (&Report{Findings: []Finding{{Severity: Warning, Message: "w"}}}).HasErrors() {
		t.Error("a warning is not an error")
	}
}
