package manifest

// Parsers and validators of single manifest values. They are exported where
// other packages (the CLI's `init`, the router) need the same rules.
// Every rejection is a *problem carrying a message and a hint; callers
// outside the package see the message through error.

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/net/publicsuffix"
)

// problem is a rejected value: what is wrong and how to fix it.
type problem struct {
	msg, hint string
}

func (p *problem) Error() string { return p.msg }

func bad(hint, format string, args ...any) *problem {
	return &problem{msg: fmt.Sprintf(format, args...), hint: hint}
}

// errOrNil avoids the typed-nil-in-interface trap of returning a nil
// *problem as error.
func errOrNil(p *problem) error {
	if p == nil {
		return nil
	}
	return p
}

// ---- sizes -------------------------------------------------------------

var sizeUnits = map[byte]int64{'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30, 'T': 1 << 40}

// ParseSize parses a memory size as systemd's MemoryMax= understands it:
// a whole number of bytes, optionally followed by one of K, M, G, T
// (base 1024: "512M" is 536870912). It is strict: no fractions ("1.5G"),
// no "B"/"iB" suffixes ("1GB", "1GiB"), no lower-case units, no spaces, no
// sign. The error's hint (via the manifest report) suggests the exact
// equivalent, e.g. "1.5G" -> "1536M". "0" parses to 0; fields decide
// whether zero is allowed (no field allows it).
func ParseSize(s string) (int64, error) {
	n, p := parseSize(s)
	return n, errOrNil(p)
}

func parseSize(s string) (int64, *problem) {
	const allowed = "write a whole number of bytes or use K, M, G or T (base 1024), e.g. 512M"
	if s == "" {
		return 0, bad(allowed, "size is empty")
	}
	if strings.ContainsAny(s, " \t") {
		return 0, bad("write it without spaces, e.g. "+strings.Join(strings.Fields(s), ""), "size %q contains a space", s)
	}
	if s[0] == '-' {
		return 0, bad(allowed, "size %q is negative", s)
	}
	if s[0] == '+' {
		return 0, bad("write it without the sign, e.g. "+s[1:], "size %q has a sign", s)
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	num, rest := s[:i], s[i:]
	if num == "" {
		return 0, bad(allowed, "size %q does not start with a number", s)
	}
	// Fractions: suggest the next smaller unit when that is exact.
	if strings.HasPrefix(rest, ".") {
		j := 1
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		hint := allowed
		if u := strings.ToUpper(trimByteSuffix(rest[j:])); len(u) == 1 && strings.Contains("MGT", u) {
			if f, err := strconv.ParseFloat(num+rest[:j], 64); err == nil {
				smaller := "KMGT"[strings.Index("KMGT", u)-1]
				if v := f * 1024; v == math.Trunc(v) && v < 1e15 {
					hint = fmt.Sprintf("use a whole number of a smaller unit, e.g. %d%c", int64(v), smaller)
				}
			}
		}
		return 0, bad(hint, "size %q is not a whole number", s)
	}
	var mult int64 = 1
	switch {
	case rest == "":
	case len(rest) == 1 && sizeUnits[rest[0]] != 0:
		mult = sizeUnits[rest[0]]
	default:
		u := strings.ToUpper(trimByteSuffix(rest))
		if len(u) == 1 && sizeUnits[u[0]] != 0 {
			return 0, bad(fmt.Sprintf("write %s%s (units are K, M, G, T, base 1024)", num, u), "size %q has an unsupported unit %q", s, rest)
		}
		if u == "" { // "512B"
			return 0, bad("write the number of bytes without a unit, e.g. "+num, "size %q has an unsupported unit %q", s, rest)
		}
		return 0, bad(allowed, "size %q has an unsupported unit %q", s, rest)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, bad(allowed, "size %q is too large", s)
	}
	return n * mult, nil
}

// trimByteSuffix turns "GB", "GiB", "gib", "B" into "G", "G", "g", "".
func trimByteSuffix(u string) string {
	l := strings.ToLower(u)
	switch {
	case strings.HasSuffix(l, "ib"):
		return u[:len(u)-2]
	case strings.HasSuffix(l, "b"):
		return u[:len(u)-1]
	}
	return u
}

// ---- percent -----------------------------------------------------------

// ParsePercent parses a whole percentage with its sign, "150%" -> 150, as
// used by limits.cpu (CPUQuota=, percent of one CPU). The "%" is required:
// a bare number is ambiguous (CPUs? percent?) and rejected. No fractions,
// no sign, no spaces.
func ParsePercent(s string) (int, error) {
	n, p := parsePercent("percentage", s)
	return n, errOrNil(p)
}

func parsePercent(what, s string) (int, *problem) {
	num, ok := strings.CutSuffix(s, "%")
	if !ok {
		if isDigits(s) {
			return 0, bad("write "+s+"% (percent of one CPU: 100% = one CPU)", "%s %q has no %% sign", what, s)
		}
		return 0, bad("write a whole percentage of one CPU, e.g. 150%", "%s %q is not a percentage", what, s)
	}
	if !isDigits(num) {
		return 0, bad("write a whole percentage of one CPU, e.g. 150%", "%s %q is not a whole percentage", what, s)
	}
	n, err := strconv.Atoi(num)
	if err != nil || n > math.MaxInt32 {
		return 0, bad("write a whole percentage of one CPU, e.g. 150%", "%s %q is too large", what, s)
	}
	return n, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ---- durations ---------------------------------------------------------

// ParseDuration parses a duration written as whole numbers with the units
// h, m, s and ms, largest first, each at most once: "15m", "2s", "1h30m",
// "250ms". "0" alone means zero (idle_timeout: 0 = never stop). Unlike
// time.ParseDuration it rejects fractions ("1.5h" -> "1h30m"), signs,
// spaces, units below ms and days (hint: "24h"), so that what a user reads
// is what systemd gets.
func ParseDuration(s string) (time.Duration, error) {
	d, p := parseDuration(s)
	return d, errOrNil(p)
}

var durationUnits = []struct {
	name string
	d    time.Duration
}{{"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond}}

func parseDuration(s string) (time.Duration, *problem) {
	const allowed = "write whole numbers with h, m, s or ms, largest unit first, e.g. 15m, 1h30m, 30s, or 0"
	if s == "0" {
		return 0, nil
	}
	if s == "" {
		return 0, bad(allowed, "duration is empty")
	}
	if f := strings.Fields(s); len(f) > 1 || strings.TrimSpace(s) != s {
		hint := allowed
		if len(f) == 2 && isDigits(f[0]) {
			if u := unitAlias(f[1]); u != "" {
				hint = "write " + f[0] + u
			}
		}
		return 0, bad(hint, "duration %q contains a space", s)
	}
	if s[0] == '-' {
		return 0, bad(allowed, "duration %q is negative", s)
	}
	if isDigits(s) {
		return 0, bad("add a unit, e.g. "+s+"s or "+s+"m", "duration %q has no unit", s)
	}
	var total time.Duration
	next := 0 // index into durationUnits of the smallest unit still allowed
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, bad(allowed, "duration %q is not valid", s)
		}
		num := rest[:i]
		rest = rest[i:]
		j := 0
		for j < len(rest) && (rest[j] < '0' || rest[j] > '9') {
			j++
		}
		unit := rest[:j]
		rest = rest[j:]
		if strings.HasPrefix(unit, ".") {
			return 0, bad("write whole numbers, e.g. 1h30m instead of 1.5h", "duration %q is not a whole number", s)
		}
		k := -1
		for x, u := range durationUnits {
			if u.name == unit {
				k = x
			}
		}
		if k < 0 {
			hint := allowed
			if a := unitAlias(unit); a != "" {
				hint = "write " + num + a
			} else if unit == "d" || strings.HasPrefix(unit, "day") {
				hint = "write hours, e.g. 24h for one day"
			}
			if unit == "" {
				return 0, bad(hint, "duration %q has a number without a unit", s)
			}
			return 0, bad(hint, "duration %q has an unsupported unit %q", s, unit)
		}
		if k < next {
			return 0, bad(allowed, "duration %q repeats a unit or has units out of order", s)
		}
		next = k + 1
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n > int64(math.MaxInt64/durationUnits[k].d) {
			return 0, bad(allowed, "duration %q is too long", s)
		}
		add := time.Duration(n) * durationUnits[k].d
		if total > math.MaxInt64-add {
			return 0, bad(allowed, "duration %q is too long", s)
		}
		total += add
	}
	return total, nil
}

// unitAlias maps spelled-out units to ours ("minutes" -> "m").
func unitAlias(u string) string {
	switch strings.ToLower(u) {
	case "h", "hr", "hrs", "hour", "hours":
		return "h"
	case "m", "min", "mins", "minute", "minutes":
		return "m"
	case "s", "sec", "secs", "second", "seconds":
		return "s"
	case "ms", "msec", "millisecond", "milliseconds":
		return "ms"
	}
	return ""
}

// ---- text --------------------------------------------------------------

// isControl reports C0 and C1 control characters and DEL. None of them can
// be written into a unit file safely (a newline starts a new directive), so
// no manifest value may contain one.
func isControl(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f)
}

// controlIn describes the first control character of s ("a newline"), or
// returns "".
func controlIn(s string) string {
	i := strings.IndexFunc(s, isControl)
	if i < 0 {
		if !utf8.ValidString(s) {
			return "invalid UTF-8"
		}
		return ""
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return describeRune(r)
}

func describeRune(r rune) string {
	switch r {
	case '\n':
		return "a newline"
	case '\r':
		return "a carriage return"
	case '\t':
		return "a tab"
	case 0:
		return "a NUL byte"
	}
	return fmt.Sprintf("control character U+%04X", r)
}

// ---- names -------------------------------------------------------------

// MaxNameLen is the longest tenant, app or kit name.
const MaxNameLen = 31

// ValidName checks a tenant, app or kit name: ^[a-z][a-z0-9_]{0,30}$.
// Names become parts of unit names (ehecoatl-TENANT-APP.service), so "-"
// (slice hierarchy in systemd) and "." (unit type suffix) are excluded,
// and "_" takes their place. The error says which rule s breaks and how to
// fix it: `name "Acme" contains upper-case letters; use "acme"`.
func ValidName(s string) error {
	if p := checkName("name", s); p != nil {
		return fmt.Errorf("%s; %s", p.msg, p.hint)
	}
	return nil
}

func validName(s string) bool { return checkName("name", s) == nil }

// checkName explains which rule a name breaks and suggests a valid one.
// what is "tenant name", "app name" or "kit name".
func checkName(what, s string) *problem {
	const rules = "use lower-case letters a-z, digits and _, starting with a letter"
	if s == "" {
		return bad(rules+", e.g. \"acme\"", "%s is empty", what)
	}
	hint := rules
	if sug := suggestName(s); sug != "" && sug != s {
		hint = fmt.Sprintf("use %q", sug)
	}
	var invalid []string
	upper, dash := false, false
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
		case r >= 'A' && r <= 'Z':
			upper = true
		case r == '-':
			dash = true
		default:
			if q := strconv.Quote(string(r)); !slices.Contains(invalid, q) && len(invalid) < 5 {
				invalid = append(invalid, q)
			}
		}
	}
	switch {
	case len(invalid) > 0:
		if hint == rules {
			hint = "use only a-z, 0-9 and _, starting with a letter"
		}
		noun := "characters"
		if len(invalid) == 1 {
			noun = "character"
		}
		return bad(hint, "%s %q contains invalid %s %s", what, s, noun, joinAnd(invalid))
	case upper:
		return bad(hint, "%s %q contains upper-case letters", what, s)
	case dash:
		return bad(hint, "%s %q contains \"-\", which systemd reads as a slice hierarchy separator", what, s)
	case s[0] < 'a' || s[0] > 'z':
		return bad("start it with a letter a-z", "%s %q does not start with a letter", what, s)
	case len(s) > MaxNameLen:
		return bad(hint, "%s %q is %d characters long; at most %d are allowed", what, s, len(s), MaxNameLen)
	}
	return nil
}

// suggestName derives a valid name from an invalid one when a mechanical
// fix exists ("Acme" -> "acme", "a-b" -> "a_b"); "" otherwise.
func suggestName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r - 'A' + 'a')
		case r == '-' || r == '.' || r == ' ':
			b.WriteByte('_')
		default:
			return ""
		}
	}
	out := b.String()
	if len(out) > MaxNameLen {
		out = strings.TrimRight(out[:MaxNameLen], "_")
	}
	if out == "" || out[0] < 'a' || out[0] > 'z' {
		return ""
	}
	return out
}

func joinAnd(q []string) string {
	if len(q) <= 1 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1]
}

// reservedTenants are tenant names that would collide: with Ehecoatl's own
// units (ehecoatl-router.*), or with the command line, which reads a lone
// help or h argument as its help command (`ehecoatl start help` prints the
// help of start): such a tenant could not be started, stopped or shown.
var reservedTenants = map[string]string{
	"router": "ehecoatl-router.* are Ehecoatl's own units",
	"help":   "ehecoatl reads it as its help command (ehecoatl start help prints help)",
	"h":      "ehecoatl reads it as its help command (ehecoatl start h prints help)",
}

// reservedEnv are variables systemd or Ehecoatl set for the app; a manifest
// value would be overridden, or would lie to the app (LISTEN_FDS).
func reservedEnv(k string) bool {
	switch k {
	case "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC",
		"CREDENTIALS_DIRECTORY", "STATE_DIRECTORY", "RUNTIME_DIRECTORY", "CACHE_DIRECTORY", "LOGS_DIRECTORY",
		"CONFIGURATION_DIRECTORY", "INVOCATION_ID", "JOURNAL_STREAM", "SYSTEMD_EXEC_PID":
		return true
	}
	return strings.HasPrefix(k, "EHECOATL_")
}

// checkEnvKey: environment variable names are [A-Za-z_][A-Za-z0-9_]*, the
// portable shell subset, which systemd's Environment= also accepts.
func checkEnvKey(k string) *problem {
	if reservedEnv(k) {
		return bad("choose another name; systemd and Ehecoatl set this one for the app", "environment variable %q is reserved", k)
	}
	ok := k != ""
	for i := 0; i < len(k) && ok; i++ {
		c := k[i]
		ok = c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (i > 0 && c >= '0' && c <= '9')
	}
	if ok {
		return nil
	}
	hint := "use letters, digits and _, not starting with a digit"
	if s := strings.Map(func(r rune) rune {
		if r == '-' || r == '.' || r == ' ' {
			return '_'
		}
		return r
	}, k); s != k && checkEnvKeyPlain(s) {
		hint = fmt.Sprintf("use %q", s)
	}
	return bad(hint, "invalid environment variable name %q", k)
}

func checkEnvKeyPlain(k string) bool {
	if k == "" || (k[0] >= '0' && k[0] <= '9') {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}

// checkSecretName: secrets are file names under
// /etc/ehecoatl/secrets/TENANT/ and credential names of LoadCredential=:
// ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$ and no "..", so a name can never leave
// the tenant's directory or hide as a dotfile.
// reservedSuffixes are names no public CA issues certificates for
// (RFC 6761, RFC 8375, ICANN's .internal): tls: auto never sends them to
// the CA (docs/MANIFEST.md "HTTPS").
var reservedSuffixes = []string{"test", "localhost", "internal", "example", "invalid", "local", "home.arpa"}

// PublicName reports whether a domain (exact or "*." wildcard) can get a
// certificate from a public CA: it is not under a reserved name.
func PublicName(domain string) bool {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimPrefix(domain, "*.")), ".")
	for _, r := range reservedSuffixes {
		if d == r || strings.HasSuffix(d, "."+r) {
			return false
		}
	}
	return true
}

// checkCertName validates a certificate or key file name of tls:, a file
// directly in /etc/ehecoatl/certs/TENANT/ (the same rules as secrets).
func checkCertName(s string) *problem {
	if p := checkSecretName(s); p != nil {
		p.msg = strings.Replace(p.msg, "secret name", "certificate file name", 1)
		p.hint = strings.Replace(p.hint, "/etc/ehecoatl/secrets/TENANT/", "/etc/ehecoatl/certs/TENANT/", 1)
		return p
	}
	return nil
}

func checkSecretName(s string) *problem {
	const rules = "use letters, digits, _, . and -, starting with a letter, digit or _, at most 64 characters"
	switch {
	case s == "":
		return bad(rules, "secret name is empty")
	case strings.Contains(s, "/"):
		return bad("name the file directly under /etc/ehecoatl/secrets/TENANT/, without a directory", "secret name %q contains \"/\"", s)
	case strings.Contains(s, ".."):
		return bad(rules, "secret name %q contains \"..\"", s)
	case len(s) > 64:
		return bad(rules, "secret name %q is longer than 64 characters", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && (c == '.' || c == '-'))
		if !ok {
			if i == 0 && (c == '.' || c == '-') {
				return bad(rules, "secret name %q must not start with %q", s, string(c))
			}
			r, _ := utf8.DecodeRuneInString(s[i:])
			return bad(rules, "secret name %q contains invalid character %q", s, string(r))
		}
	}
	return nil
}

// ---- host paths --------------------------------------------------------

// checkHostPath validates an absolute, clean file system path (command[0],
// read_only entries). what names the value in messages.
func checkHostPath(what, s string) *problem {
	if c := controlIn(s); c != "" {
		return bad("paths cannot contain control characters", "%s %q contains %s", what, s, c)
	}
	if !strings.HasPrefix(s, "/") {
		return bad("write the full path starting with /, e.g. /usr/bin/NAME; there is no shell and no $PATH search",
			"%s %q is not an absolute path", what, s)
	}
	for _, seg := range strings.Split(s, "/") {
		if seg == ".." {
			return bad(fmt.Sprintf("write the path without \"..\", e.g. %q", path.Clean(s)), "%s %q contains \"..\"", what, s)
		}
	}
	if c := path.Clean(s); c != s {
		return bad(fmt.Sprintf("write %q", c), "%s %q is not a clean path", what, s)
	}
	return nil
}

// ---- the app's view of the host ----------------------------------------
//
// An app's file system is deny-by-default (docs/MANIFEST.md "What an app
// sees"): its root is an empty directory into which systemd binds the OS
// (/usr, /etc, /bin, /sbin, /lib*) read-only. read_only: and connect: add
// host paths to that view, so they are held to the rules below, first as
// written and then again as the symlinks on this host resolve them (a
// link under /srv could point at /proc/1/root, the host's whole root).

// sandboxTops are the top-level directories below which a read_only or
// connect path may lie: each has a mount point in the sandbox's root
// (packaging/tmpfiles.d/ehecoatl.conf), and where one holds such a path
// the generator covers it with an empty tmpfs first, so that systemd
// creates the mount points there and never in the shared root.
var sandboxTops = []string{"/etc", "/home", "/media", "/mnt", "/opt", "/root", "/srv", "/usr", "/var"}

// forbiddenHostPaths are trees no app may be given: every tenant's
// manifests, env and secrets; every app's state (DynamicUser keeps it in
// /var/lib/private); apply's record; and the links into /run. Their
// ancestors are refused too, since exposing them would expose these.
var forbiddenHostPaths = []string{"/etc/ehecoatl", "/var/lib/ehecoatl", "/var/lib/private", "/var/lock", "/var/run"}

// forbiddenSocketPaths are the parts of /run that connect: may not reach:
// every app's socket and the sandbox root, systemd's own sockets (the
// journal, notify, private: an app could log as another tenant or talk to
// PID 1), the system bus (it answers property queries about every unit)
// and users' runtime directories.
var forbiddenSocketPaths = []string{"/run/dbus", "/run/ehecoatl", "/run/ehecoatl-root", "/run/systemd", "/run/user"}

// evalSymlinks resolves a host path; replaced in tests.
var evalSymlinks = filepath.EvalSymlinks

// statPath reports the mode of a resolved host path; replaced in tests.
var statPath = func(p string) (fs.FileMode, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return 0, err
	}
	return fi.Mode(), nil
}

func checkReadOnly(s string) *problem { return host{}.checkReadOnly(s) }

func (h host) checkReadOnly(s string) *problem {
	_, p := h.judged("read_only path", s, func(s, r string) *problem { return readOnlyRule("read_only path", s, r) })
	return p
}

// judged checks a host path as written and again as this host's symlinks
// resolve it; it returns the resolved path, "" when it could not be
// resolved here.
func (h host) judged(what, s string, rule func(s, r string) *problem) (string, *problem) {
	if p := checkHostPath(what, s); p != nil {
		return "", p
	}
	// The generator binds these with BindReadOnlyPaths=, a list of
	// SOURCE[:DEST[:OPTIONS]] items separated by spaces.
	if i := strings.IndexAny(s, ": \t\"'\\"); i >= 0 {
		return "", bad("choose a path without spaces, quotes, backslashes or \":\", or bind its parent directory",
			"%s %q contains %q, which systemd's list of bind mounts cannot hold", what, s, s[i:i+1])
	}
	if p := rule(s, s); p != nil {
		return "", p
	}
	r, ok := h.resolved(s)
	if !ok {
		return "", nil
	}
	return r, rule(s, r)
}

// resolvedNote says what s resolved to, for messages about r.
func resolvedNote(s, r string) string {
	if r == s {
		return ""
	}
	return fmt.Sprintf(" (it resolves to %s on this host)", r)
}

// readOnlyRule checks r, the path s as written or as resolved.
func readOnlyRule(what, s, r string) *problem {
	via := resolvedNote(s, r)
	if !underAny(r, sandboxTops) {
		hint := "keep what the app reads below /srv, /opt, /var, /home, /mnt or /media"
		if underAny(r, []string{"/proc", "/sys", "/dev", "/run"}) {
			hint = "the app gets its own /proc, /dev and /run; reach a host service's socket with connect:, never with read_only:"
		}
		return bad(hint, "%s %q%s is outside the directories an app's sandbox can hold (%s)", what, s, via, strings.Join(sandboxTops, ", "))
	}
	for _, f := range forbiddenHostPaths {
		if (f == "/var/run" || f == "/var/lock") && under(r, f) {
			return bad("write the path below /run: "+f+" is a link into it", "%s %q%s is inside %s", what, s, via, f)
		}
		if under(r, f) {
			return bad("apps get secrets through secrets:, env through env: and their state through state: true; remove this path",
				"%s %q%s is inside %s, which no app may read", what, s, via, f)
		}
		if strings.HasPrefix(f, r+"/") {
			return bad("list a narrower path", "%s %q%s would expose %s, which no app may read", what, s, via, f)
		}
	}
	return nil
}

// checkConnect validates a connect: entry: the unix socket of a host
// service, bound into the sandbox at the same path.
func checkConnect(s string) *problem { return host{}.checkConnect(s) }

func (h host) checkConnect(s string) *problem {
	r, p := h.judged("connect path", s, connectRule)
	if p != nil || r == "" {
		return p
	}
	if m, err := h.stat(r); err == nil && m.Type() != fs.ModeSocket {
		return bad("name the socket file itself, e.g. /run/postgresql/.s.PGSQL.5432", "connect path %q is not a unix socket", s)
	}
	return nil
}

func connectRule(s, r string) *problem {
	via := resolvedNote(s, r)
	for _, f := range forbiddenSocketPaths {
		if under(r, f) {
			return bad("connect: is for the socket of a host service such as PostgreSQL; the journal is reached through stdout and stderr",
				"connect path %q%s is inside %s, which no app may reach", s, via, f)
		}
		if strings.HasPrefix(f, r+"/") {
			return bad("name the socket file itself, e.g. /run/postgresql/.s.PGSQL.5432", "connect path %q%s would expose %s, which no app may reach", s, via, f)
		}
	}
	if under(r, "/run") {
		return nil
	}
	return readOnlyRule("connect path", s, r)
}

// resolved returns the path s resolves to on this host: its longest
// existing ancestor resolved, the rest as written (a link may lead to a
// directory that is created later, such as another app's state). False
// when nothing of it can be resolved here (this user may not look): then
// only the written path is judged, and apply, which runs as root on the
// host, judges it again.
func (h host) resolved(s string) (string, bool) {
	rest := ""
	for p := s; p != "/"; p = path.Dir(p) {
		r, err := h.eval(p)
		if err == nil {
			return path.Join(r, rest), true
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", false
		}
		rest = path.Join(path.Base(p), rest)
	}
	return "", false
}

func underAny(p string, dirs []string) bool {
	for _, d := range dirs {
		if under(p, d) {
			return true
		}
	}
	return false
}

// under reports whether p is dir or lies below it.
func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// ---- URL paths ---------------------------------------------------------

// checkURLPath validates an HTTP path (path:, health:) and returns it
// normalised: a trailing "/" is removed unless the path is "/" (when
// prefix is true; health keeps what was written). Only characters that may
// appear unencoded in a URL path are accepted (RFC 3986 pchar and "/"):
// "%" is refused because the router matches the decoded path, so a
// percent-encoded prefix could never match; "?" and "#" are not part of a
// path; "." and ".." segments and "//" are refused because clients and
// proxies normalise them away.
func checkURLPath(what, s string, prefix bool) (string, *problem) {
	if s == "" {
		return "", bad("write \"/\" for the whole site", "%s is empty", what)
	}
	if c := controlIn(s); c != "" {
		return "", bad("remove it", "%s %q contains %s", what, s, c)
	}
	if s[0] != '/' {
		return "", bad(fmt.Sprintf("write %q", "/"+s), "%s %q does not start with \"/\"", what, s)
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("-._~!$&'()*+,;=:@/", r):
		case r == '%':
			return "", bad("write the characters themselves, not percent-encoded", "%s %q contains \"%%\"", what, s)
		case r == '?' || r == '#':
			return "", bad("a path has no query or fragment; remove everything from "+strconv.Quote(string(r))+" on", "%s %q contains %q", what, s, string(r))
		default:
			return "", bad("use only letters, digits and -._~!$&'()*+,;=:@/", "%s %q contains invalid character %q", what, s, string(r))
		}
	}
	out := s
	if prefix && len(out) > 1 {
		out = strings.TrimRight(out, "/")
		if out == "" {
			out = "/"
		}
	}
	segs := strings.Split(out, "/")[1:]
	for i, seg := range segs {
		switch {
		case seg == "." || seg == "..":
			return "", bad("write the path without . and .. segments", "%s %q contains a %q segment", what, s, seg)
		case seg == "" && out != "/" && (prefix || i < len(segs)-1):
			return "", bad("remove the repeated \"/\"", "%s %q contains \"//\"", what, s)
		}
	}
	return out, nil
}

// ---- domains -----------------------------------------------------------

// NormalizeDomain validates a domain of an app and returns it normalised:
// lower case, without a trailing dot and without a ":port" (the router
// matches the Host header the same way, docs/MANIFEST.md "domains"). Accepted are host names
// of letters, digits and "-" (LDH labels of 1..63 characters, not starting
// or ending with "-", at most 253 in total), optionally with a single
// leading "*." wildcard label ("*.shops.example.com" matches subdomains of
// shops.example.com, never shops.example.com itself); a wildcard needs at
// least two labels after "*." (no "*.com"). Refused: underscores (not valid
// in host names, and no certificate can be issued for them), non-ASCII
// (write the xn-- form), schemes, paths, spaces, "%", control characters,
// IP literals and names ending in a numeric label, public suffixes
// ("com", "co.uk", "github.io", any single label such as "localhost") and
// wildcards directly below one ("*.co.uk"). Which tenant may claim a valid
// name is a rule across files (see crossCheck).
func NormalizeDomain(s string) (string, error) {
	d, p := normalizeDomain(s)
	return d, errOrNil(p)
}

func normalizeDomain(s string) (string, *problem) {
	const rules = "use letters, digits, - and . only, e.g. shop.example.com or *.example.com"
	if s == "" {
		return "", bad(rules, "domain is empty")
	}
	if c := controlIn(s); c != "" {
		return "", bad("remove it", "domain %q contains %s", s, c)
	}
	if i := strings.Index(s, "://"); i >= 0 {
		host := s[i+3:]
		if j := strings.IndexByte(host, '/'); j >= 0 {
			host = host[:j]
		}
		return "", bad(fmt.Sprintf("write the host name only, e.g. %q", host), "domain %q contains a URL scheme", s)
	}
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return "", bad(fmt.Sprintf("write the host name only (%q) and put the path in path:", s[:i]), "domain %q contains a path", s)
	}
	if isIPv6Literal(s) {
		return "", bad(ipLiteralHint, "domain %q is an IP address", s)
	}
	for _, r := range s {
		switch {
		case r >= utf8.RuneSelf:
			return "", bad("write the internationalised name in its ASCII (xn--) form", "domain %q contains non-ASCII characters", s)
		case r == ' ':
			return "", bad(rules, "domain %q contains a space", s)
		case r == '%':
			return "", bad(rules, "domain %q contains \"%%\"", s)
		case r == '_':
			return "", bad("underscores are not valid in host names; use \"-\"", "domain %q contains \"_\"", s)
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '*', r == ':':
		default:
			return "", bad(rules, "domain %q contains invalid character %q", s, string(r))
		}
	}
	d := strings.ToLower(s)
	if i := strings.IndexByte(d, ':'); i >= 0 {
		port := d[i+1:]
		if strings.Contains(port, ":") {
			return "", bad(rules+"; IPv6 literals are not supported", "domain %q contains more than one \":\"", s)
		}
		n, err := strconv.Atoi(port)
		if !isDigits(port) || err != nil || n < 1 || n > 65535 {
			return "", bad("write the host name without the port", "domain %q has an invalid port %q", s, port)
		}
		d = d[:i]
	}
	d = strings.TrimSuffix(d, ".")
	host, wild := strings.CutPrefix(d, "*.")
	if strings.Contains(host, "*") {
		return "", bad("a wildcard must be the whole first label, e.g. *.example.com", "domain %q has a misplaced \"*\"", s)
	}
	if host == "" {
		return "", bad(rules, "domain %q has no host name", s)
	}
	if len(d) > 253 {
		return "", bad("use a name of at most 253 characters", "domain %q is longer than 253 characters", s)
	}
	labels := strings.Split(host, ".")
	for _, l := range labels {
		switch {
		case l == "":
			return "", bad("remove the empty label (\"..\" or a leading \".\")", "domain %q has an empty label", s)
		case len(l) > 63:
			return "", bad("each part between dots may have at most 63 characters", "domain %q has a label longer than 63 characters", s)
		case l[0] == '-' || l[len(l)-1] == '-':
			return "", bad("labels may contain \"-\" but not start or end with it", "domain %q has a label %q starting or ending with \"-\"", s, l)
		}
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return "", bad(ipLiteralHint, "domain %q is an IP address", s)
	}
	if last := labels[len(labels)-1]; numericLabel(last) {
		return "", bad("use a host name whose last label is not a number, e.g. shop.example.com",
			"domain %q ends in the numeric label %q, which clients read as an IPv4 address", s, last)
	}
	if wild && len(labels) < 2 {
		return "", bad("a wildcard needs at least two labels after \"*.\", e.g. *.example.com", "wildcard domain %q covers a whole top-level domain", s)
	}
	// A claim owns every name below it (see crossCheck), so a public
	// suffix, whose subdomains belong to unrelated owners, is never a
	// tenant's: neither as a name nor as the base of a wildcard.
	if ps, _ := publicsuffix.PublicSuffix(host); ps == host {
		if wild {
			return "", bad(fmt.Sprintf("the names under a public suffix belong to unrelated owners; write a wildcard under a name of your own, e.g. \"*.acme.%s\"", host),
				"wildcard domain %q covers every name under %q, a public suffix", s, host)
		}
		what := "on the Public Suffix List"
		if len(labels) == 1 {
			what = "a top-level domain"
		}
		return "", bad(fmt.Sprintf("a domain owns every name below it, and the names under a public suffix belong to unrelated owners; claim a name of your own, e.g. \"acme.%s\"", host),
			"domain %q is %s", s, what)
	}
	return d, nil
}

const ipLiteralHint = "the router routes by host name; a tenant that claimed an address would answer every request sent to this host by address: use a host name, e.g. shop.example.com"

// isIPv6Literal reports "::1", "[::1]" and "[::1]:443", which the checks
// for characters and ports would otherwise refuse for a less useful reason.
func isIPv6Literal(s string) bool {
	h := s
	if strings.HasPrefix(h, "[") {
		i := strings.IndexByte(h, ']')
		if i < 0 {
			return false
		}
		h = h[1:i]
	} else if strings.Count(h, ":") < 2 {
		return false
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Is6()
}

// numericLabel reports a last label that makes a host an IPv4 address to
// the WHATWG URL parser (browsers, curl): decimal digits or 0x and hex
// digits. "2130706433", "127.1" and "0x7f.1" all mean a loopback address;
// no top-level domain is numeric.
func numericLabel(l string) bool {
	if h, ok := strings.CutPrefix(l, "0x"); ok {
		return strings.Trim(h, "0123456789abcdef") == ""
	}
	return isDigits(l)
}

// ---- egress ------------------------------------------------------------

// parseEgressEntry parses one CIDR of an egress list. A bare address is
// accepted and means that single host (/32 or /128), as systemd's
// IPAddressAllow= reads it. A prefix with host bits set ("10.0.0.5/8") is
// refused: it is unclear whether the network or the host was meant.
func parseEgressEntry(s string) (netip.Prefix, *problem) {
	const hint = "write an address or a network in CIDR form, e.g. 10.0.0.5, 10.0.0.0/8 or 2001:db8::/32"
	if c := controlIn(s); c != "" {
		return netip.Prefix{}, bad(hint, "egress entry %q contains %s", s, c)
	}
	switch strings.ToLower(s) {
	case "any", "all", "*", "none":
		return netip.Prefix{}, bad("egress is either none or a list; to allow everything write egress: [0.0.0.0/0, \"::/0\"]", "egress entry %q is not an address", s)
	}
	if strings.Contains(s, "%") {
		return netip.Prefix{}, bad(hint, "egress entry %q has an IPv6 zone; zones are not supported", s)
	}
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, bad(hint, "egress entry %q is not an IP address or CIDR", s)
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, bad(hint, "egress entry %q is not a valid CIDR", s)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, bad(fmt.Sprintf("write %s for the network or %s for the host", m, netip.PrefixFrom(p.Addr(), p.Addr().BitLen())),
			"egress entry %q has host bits set", s)
	}
	return p, nil
}

// RestartValues are the values of systemd's Restart= (systemd.service(5)).
var RestartValues = []string{"no", "on-success", "on-failure", "on-abnormal", "on-watchdog", "on-abort", "always"}
