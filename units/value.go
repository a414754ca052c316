package units

import (
	"fmt"
	"strconv"
	"strings"
)

// Add appends Key=value for a plain string: '%' becomes "%%". It records an
// error for a control character (newline, tab, ...), invalid UTF-8, a
// trailing backslash and leading or trailing spaces. The value is written
// without quoting; see AddList for options that split their value into
// words.
func (s *Section) Add(key, value string) {
	enc, err := encodeValue(value, false)
	s.add(key, enc, err)
}

// Set is Add after dropping the section's options named key: a later
// choice replaces one a merged fragment made (Type=, NotifyAccess=), so
// the unit holds one value for it, not two of which systemd takes the
// last.
func (s *Section) Set(key, value string) {
	kept := s.Options[:0]
	for _, o := range s.Options {
		if o.Key != key {
			kept = append(kept, o)
		}
	}
	clear(s.Options[len(kept):])
	s.Options = kept
	s.Add(key, value)
}

// AddSpecifier is Add for a value in which '%' specifiers are intended, e.g.
// "/run/ehecoatl/acme/web@%i.sock". Only %i %I %n %N %p and %% are allowed.
func (s *Section) AddSpecifier(key, value string) {
	enc, err := encodeValue(value, true)
	s.add(key, enc, err)
}

func encodeValue(value string, spec bool) (string, error) {
	if err := checkPlain(value); err != nil {
		return "", err
	}
	return encodePercent(value, spec)
}

// AddList appends Key=w1 w2 ... for options that take a space-separated list
// (ReadOnlyPaths=, StateDirectory=, SystemCallFilter=, IPAddressAllow=...).
// Those options differ in how they unquote, so instead of quoting, a word
// that would need it (empty, or holding a space, a quote or a backslash) is
// an error. '%' becomes "%%".
func (s *Section) AddList(key string, words []string) {
	enc, err := encodeList(words)
	s.add(key, enc, err)
}

func encodeList(words []string) (string, error) {
	if len(words) == 0 {
		return "", fmt.Errorf("empty list (an empty value would reset the option; use Add(key, \"\") for that)")
	}
	enc := make([]string, len(words))
	for i, w := range words {
		if err := checkText(w); err != nil {
			return "", fmt.Errorf("word %d: %w", i, err)
		}
		if w == "" || strings.ContainsAny(w, " \"'\\") {
			return "", fmt.Errorf("word %d %q is empty or holds a space, quote or backslash; list options cannot carry it safely", i, w)
		}
		enc[i] = strings.ReplaceAll(w, "%", "%%")
	}
	return strings.Join(enc, " "), nil
}

// UnescapeValue is the inverse of Add: "%%" becomes '%'. Any other specifier
// is an error (use Specifiers.UnescapeValue), and so is a result Add would
// refuse.
func UnescapeValue(encoded string) (string, error) {
	return Specifiers(nil).UnescapeValue(encoded)
}

// UnescapeValue is the inverse of Add and AddSpecifier: specifiers are
// replaced by their values in sp.
func (sp Specifiers) UnescapeValue(encoded string) (string, error) {
	v, err := expandSpecifiers(encoded, sp)
	if err == nil {
		err = checkPlain(v)
	}
	if err != nil {
		return "", fmt.Errorf("units: value %q: %w", encoded, err)
	}
	return v, nil
}

// AddPercent writes KEY=N% for options whose parser resolves no specifiers
// (CPUQuota=, and percentages of MemoryMax= or TasksMax=): there "%%" would
// be an invalid value ("Invalid CPU quota '150%%'"), so the one '%' is
// written as is. N must not be negative.
func (s *Section) AddPercent(key string, n int) {
	var err error
	if n < 0 {
		err = fmt.Errorf("negative percentage %d", n)
	}
	s.add(key, strconv.Itoa(n)+"%", err)
}
