package units

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// quoteWord returns w as one word for systemd's word splitting
// (systemd.syntax(7) "QUOTING"): unchanged when it needs nothing, else in
// double quotes with '"' and '\' escaped. Callers have already rejected
// control characters, so a space is the only separator w can hold. Only the
// escapes \" and \\ are used: they mean the same to every systemd parser,
// with or without C unescaping.
func quoteWord(w string) string {
	if w != "" && !strings.ContainsAny(w, " \"'\\") {
		return w
	}
	return quoted(w)
}

// quoted returns w in double quotes with '"' and '\' escaped.
func quoted(w string) string {
	var b strings.Builder
	b.Grow(len(w) + 2)
	b.WriteByte('"')
	for i := 0; i < len(w); i++ {
		if w[i] == '"' || w[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(w[i])
	}
	b.WriteByte('"')
	return b.String()
}

// isSpace reports whether c is one of systemd's WHITESPACE separators.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipSpace returns the index of the first non-separator at or after i.
func skipSpace(s string, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i
}

// extractWord is systemd's extract_first_word(EXTRACT_UNQUOTE |
// EXTRACT_CUNESCAPE) with whitespace separators: it reads the word starting
// at or after i and returns it, the index after it and its trailing
// separators, and whether there was a word at all. Quotes may open anywhere
// in a word (as systemd's code does, whatever the man page says); escapes
// are C escapes, inside quotes and out. Where systemd would retry without
// the unknown escape and warn, this is an error.
func extractWord(s string, i int) (word string, next int, ok bool, err error) {
	i = skipSpace(s, i)
	if i == len(s) {
		return "", i, false, nil
	}
	var b []byte
	var quote byte
	for i < len(s) {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 == len(s) {
				return "", i, false, errors.New("trailing backslash")
			}
			dec, n, err := cunescapeOne(s[i+1:])
			if err != nil {
				return "", i, false, err
			}
			b = append(b, dec...)
			i += 1 + n
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				b = append(b, c)
			}
			i++
		case c == '"' || c == '\'':
			quote = c
			i++
		case isSpace(c):
			return string(b), skipSpace(s, i), true, nil
		default:
			b = append(b, c)
			i++
		}
	}
	if quote != 0 {
		return "", i, false, errors.New("unbalanced quotes")
	}
	return string(b), i, true, nil
}

// cunescapeOne decodes the C escape at the start of s (the text after the
// backslash) as systemd's cunescape_one does: it returns the bytes and how
// many bytes of s it used. NUL and invalid code points are refused.
func cunescapeOne(s string) ([]byte, int, error) {
	if s == "" {
		return nil, 0, errors.New("trailing backslash")
	}
	if i := strings.IndexByte(`abfnrtv\"'s`, s[0]); i >= 0 {
		return []byte{"\a\b\f\n\r\t\v\\\"' "[i]}, 1, nil
	}
	bad := errors.New("unknown escape \\" + string(s[0]))
	switch s[0] {
	case 'x':
		v, ok := parseDigits(s, 1, 2, 16)
		if !ok || v == 0 {
			return nil, 0, bad
		}
		return []byte{byte(v)}, 3, nil
	case 'u', 'U':
		n := 4
		if s[0] == 'U' {
			n = 8
		}
		v, ok := parseDigits(s, 1, n, 16)
		if !ok || v == 0 || !validCodePoint(v, s[0] == 'U') {
			return nil, 0, bad
		}
		return utf8.AppendRune(nil, rune(v)), n + 1, nil
	case '0', '1', '2', '3', '4', '5', '6', '7':
		v, ok := parseDigits(s, 0, 3, 8)
		if !ok || v == 0 || v > 255 {
			return nil, 0, bad
		}
		return []byte{byte(v)}, 3, nil
	}
	return nil, 0, bad
}

// parseDigits reads n digits of base from s[at:].
func parseDigits(s string, at, n int, base uint32) (uint32, bool) {
	if len(s) < at+n {
		return 0, false
	}
	var v uint32
	for _, c := range []byte(s[at : at+n]) {
		var d uint32
		switch {
		case c >= '0' && c <= '9':
			d = uint32(c - '0')
		case c >= 'a' && c <= 'f':
			d = uint32(c-'a') + 10
		case c >= 'A' && c <= 'F':
			d = uint32(c-'A') + 10
		default:
			return 0, false
		}
		if d >= base {
			return 0, false
		}
		v = v*base + d
	}
	return v, true
}

// validCodePoint: systemd checks \U with unichar_is_valid (no surrogates, no
// noncharacters, at most U+10FFFF); \u is not checked there, but a
// surrogate would encode as invalid UTF-8, which is refused later anyway.
func validCodePoint(v uint32, strict bool) bool {
	if v >= 0x110000 || v&0xFFFFF800 == 0xD800 {
		return false
	}
	if strict && ((v >= 0xFDD0 && v <= 0xFDEF) || v&0xFFFE == 0xFFFE) {
		return false
	}
	return true
}
