package units

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxLine is systemd's LONG_LINE_MAX: it refuses a file with a longer line.
const maxLine = 1 << 20

// allowedSpecifiers are the specifiers the *Specifier methods let through,
// besides "%%": instance (escaped, unescaped), full unit name (escaped,
// without suffix), prefix.
const allowedSpecifiers = "iInNp"

// Specifiers gives values to specifiers when decoding, e.g.
// Specifiers{'i': "2", 'n': "ehecoatl-acme-web@2.service"}. The package-level
// decoders use a nil Specifiers: only "%%" is resolved.
type Specifiers map[byte]string

// checkText rejects what never goes into a unit file: invalid UTF-8 and
// control characters (see the package documentation).
func checkText(s string) error {
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			return fmt.Errorf("invalid UTF-8 at byte %d", i)
		case r == '\n' || r == '\r':
			return fmt.Errorf("line break at byte %d would end the line (systemd reads the rest as a new line)", i)
		case r == 0:
			return fmt.Errorf("NUL byte at byte %d would end the line", i)
		case r == '\t':
			return fmt.Errorf("tab at byte %d is not allowed (control characters are rejected)", i)
		case r < 0x20 || r == 0x7f:
			return fmt.Errorf("control character %U at byte %d is not allowed", r, i)
		}
	}
	return nil
}

// checkPlain adds to checkText what Add refuses for a value written without
// quoting: whitespace systemd would strip and a trailing backslash, which
// would join the next line.
func checkPlain(s string) error {
	if err := checkText(s); err != nil {
		return err
	}
	if strings.HasPrefix(s, " ") || strings.HasSuffix(s, " ") {
		return errors.New("leading or trailing spaces would be stripped by systemd")
	}
	if strings.HasSuffix(s, `\`) {
		return errors.New("a trailing backslash would continue the line")
	}
	return nil
}

// encodePercent doubles every '%'; with spec, the allowed specifiers (and an
// existing "%%") are kept and any other '%' is an error.
func encodePercent(s string, spec bool) (string, error) {
	if !spec {
		return strings.ReplaceAll(s, "%", "%%"), nil
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		if i+1 == len(s) {
			return "", errors.New("lone '%' at the end: write \"%%\" for a literal percent sign")
		}
		if c := s[i+1]; c != '%' && strings.IndexByte(allowedSpecifiers, c) < 0 {
			return "", fmt.Errorf("specifier %q is not allowed (allowed: %%i %%I %%n %%N %%p, and %%%% for a literal '%%')", s[i:i+2])
		}
		i++
	}
	return s, nil
}

// expandSpecifiers resolves specifiers as systemd does when it loads a unit:
// "%%" becomes '%', "%x" the value sp gives it. An unknown specifier or a
// lone '%' is an error (systemd is laxer).
func expandSpecifiers(s string, sp Specifiers) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", errors.New("lone '%' at the end")
		}
		i++
		if s[i] == '%' {
			b.WriteByte('%')
			continue
		}
		v, ok := sp[s[i]]
		if !ok {
			return "", fmt.Errorf("specifier %%%c has no value here", s[i])
		}
		b.WriteString(v)
	}
	return b.String(), nil
}
