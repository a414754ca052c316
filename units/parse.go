package units

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Parse reads unit-file text into a Unit whose option values are the
// encoded form, as systemd's config_parse reads it: lines end at "\n",
// "\r\n", "\r" or NUL; lines whose first non-blank character is '#' or ';' are
// comments, also inside a continuation; a line ending in an odd number of
// backslashes continues on the next line, the backslash replaced by a
// space; whitespace around the key and the value is trimmed; keys may
// repeat. A section that appears twice is one section (systemd appends to
// it too).
//
// Parse is stricter than systemd where systemd warns and ignores: an
// assignment outside a section, a line without '=', an invalid key or
// section name, invalid UTF-8 and control characters other than tab are
// errors naming the line, so that everything Parse accepts, Bytes writes
// back unchanged in meaning.
func Parse(name string, data []byte) (*Unit, error) {
	u := New(name)
	data = bytes.TrimPrefix(data, []byte("\uFEFF")) // a UTF-8 byte-order mark
	var cur *Section
	var cont []byte // the logical line being continued, backslashes replaced
	contLine := 0   // its first physical line, 0 if none
	fail := func(line int, format string, args ...any) (*Unit, error) {
		return nil, fmt.Errorf("units: %s:%d: %s", name, line, fmt.Sprintf(format, args...))
	}
	lines := splitLines(data)
	for i := 0; i <= len(lines); i++ {
		at := i + 1
		if i < len(lines) {
			l := lines[i]
			if len(l) > maxLine {
				return fail(at, "line is longer than systemd's limit of %d bytes", maxLine)
			}
			if t := strings.TrimLeft(l, " \t\n\r"); t != "" && (t[0] == '#' || t[0] == ';') {
				continue
			}
			if len(cont)+len(l) > maxLine {
				return fail(at, "continued line is longer than systemd's limit of %d bytes", maxLine)
			}
			if contLine == 0 {
				contLine = at
			}
			cont = append(cont, l...)
			if n := len(cont) - len(bytes.TrimRight(cont, `\`)); n%2 == 1 {
				cont[len(cont)-1] = ' '
				continue
			}
		} else if contLine == 0 {
			break
		} // else: a continuation at the end of the file
		logical := string(cont)
		at, contLine, cont = contLine, 0, cont[:0]

		l := strings.Trim(logical, " \t\n\r")
		switch {
		case l == "":
			continue
		case !utf8.ValidString(l):
			return fail(at, "invalid UTF-8")
		case l[0] == '[':
			if l[len(l)-1] != ']' {
				return fail(at, "invalid section header %q", l)
			}
			sname := l[1 : len(l)-1]
			if err := checkSectionName(sname); err != nil {
				return fail(at, "%v", err)
			}
			cur = u.Section(sname)
			continue
		case cur == nil:
			return fail(at, "assignment outside of a section")
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return fail(at, "missing '=' in %q", l)
		}
		k, v = strings.Trim(k, " \t\n\r"), strings.Trim(v, " \t\n\r")
		if k == "" {
			return fail(at, "missing key before '='")
		}
		if err := checkKey(k); err != nil {
			return fail(at, "%v", err)
		}
		if err := checkLine(k, v); err != nil {
			return fail(at, "%s: %v", k, err)
		}
		cur.Options = append(cur.Options, Option{Key: k, Value: v})
	}
	return u, nil
}

// splitLines splits data into lines as systemd's read_line does: a line
// ends at '\n', '\r' or NUL, and a run of different ones ("\r\n", "\n\r",
// ...) is one line end; nothing joins a line end after a NUL.
func splitLines(data []byte) []string {
	var lines []string
	for len(data) > 0 {
		i := bytes.IndexAny(data, "\n\r\x00")
		if i < 0 {
			lines = append(lines, string(data))
			break
		}
		lines = append(lines, string(data[:i]))
		seen := 0
		for ; i < len(data); i++ {
			e := eolKind(data[i])
			if e == 0 || seen&eolKind(0) != 0 || seen&e != 0 {
				break
			}
			seen |= e
		}
		data = data[i:]
	}
	return lines
}

// eolKind classifies a byte as read_line does: a bit per kind of line end.
func eolKind(c byte) int {
	switch c {
	case 0:
		return 1
	case '\n':
		return 2
	case '\r':
		return 4
	}
	return 0
}
