package units

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Bytes serializes the unit: "[Section]\nKey=Value\n", one blank line
// between sections, a trailing newline, nothing else (no comments, no
// header), so the output is deterministic. It returns Err() if set, and
// checks again that every section and option forms a safe line, since both
// are exported and may have been built by hand.
func (u *Unit) Bytes() ([]byte, error) {
	if err := u.Err(); err != nil {
		return nil, err
	}
	// Size the buffer once: the generator serializes thousands of units.
	n := 0
	for _, s := range u.Sections {
		if s == nil {
			continue
		}
		n += len(s.Name) + 4
		for _, o := range s.Options {
			n += len(o.Key) + len(o.Value) + 2
		}
	}
	b := bytes.NewBuffer(make([]byte, 0, n))
	first := true
	for _, s := range u.Sections {
		if s == nil {
			continue
		}
		if err := checkSectionName(s.Name); err != nil {
			return nil, &Error{Unit: u.Name, Section: s.Name, Err: err}
		}
		if !first {
			b.WriteByte('\n')
		}
		first = false
		b.WriteByte('[')
		b.WriteString(s.Name)
		b.WriteString("]\n")
		for _, o := range s.Options {
			if err := checkLine(o.Key, o.Value); err != nil {
				return nil, &Error{Unit: u.Name, Section: s.Name, Key: o.Key, Err: err}
			}
			b.WriteString(o.Key)
			b.WriteByte('=')
			b.WriteString(o.Value)
			b.WriteByte('\n')
		}
	}
	return b.Bytes(), nil
}

// checkSectionName accepts what systemd reads back as the same section
// name: non-empty, UTF-8, no control characters, quotes, backslashes or
// brackets, no surrounding spaces.
func checkSectionName(name string) error {
	switch {
	case name == "":
		return errors.New("empty section name")
	case !utf8.ValidString(name):
		return errors.New("section name is not valid UTF-8")
	case strings.ContainsAny(name, "\"'\\[]"):
		return fmt.Errorf("section name %q holds a quote, backslash or bracket", name)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("section name %q has surrounding whitespace", name)
	}
	for _, c := range []byte(name) {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("section name %q holds a control character", name)
		}
	}
	return nil
}

// checkKey accepts the keys systemd knows: letters, digits, '_', '-', '.',
// starting with a letter, digit or '_' (so never '#', ';' or '[').
func checkKey(key string) error {
	if key == "" {
		return errors.New("empty key")
	}
	for i, c := range []byte(key) {
		ok := c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
			(i > 0 && (c == '-' || c == '.'))
		if !ok {
			return fmt.Errorf("key %q is invalid: letters, digits, '_', '-' and '.' only, starting with a letter, digit or '_'", key)
		}
	}
	return nil
}

// checkLine checks that Key=value is read back by systemd as exactly this
// key and value on one line. It is the last line of defence, also for
// values parsed from fragments, so it allows a tab inside a value (which
// Parse accepts and systemd keeps) but no other control character.
func checkLine(key, value string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if !utf8.ValidString(value) {
		return errors.New("value is not valid UTF-8")
	}
	for i, c := range []byte(value) {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return fmt.Errorf("value holds control character %U at byte %d", rune(c), i)
		}
	}
	if strings.Trim(value, " \t") != value {
		return errors.New("value has leading or trailing whitespace, which systemd strips")
	}
	if n := len(value) - len(strings.TrimRight(value, `\`)); n%2 == 1 {
		return errors.New("value ends in a backslash, which continues the line")
	}
	if len(key)+1+len(value) > maxLine {
		return fmt.Errorf("line is longer than systemd's limit of %d bytes", maxLine)
	}
	return nil
}
