package units

import (
	"fmt"
	"strings"
)

// Unit is one unit file. Sections and options keep insertion order; keys may
// repeat.
type Unit struct {
	// Name is the unit's file name, e.g. "ehecoatl-acme-web.service". It is
	// not checked here (fragments parsed from templates have other names);
	// callers that write the unit to disk check it with ValidName.
	Name string
	// Sections in the order they were first added.
	Sections []*Section

	// err is the first error of Section (a bad section name) or Merge.
	err *Error
}

// Section is one [Name] block of a unit file.
type Section struct {
	// Name without brackets, e.g. "Service".
	Name string
	// Options in file order.
	Options []Option

	// err is the first error recorded by an Add* method of this section.
	// It lives here, not in the Unit, so that a Section built as a literal
	// still records its errors; Unit.Err collects them.
	err *Error
}

// Option holds the value ALREADY ENCODED in unit-file syntax (what appears
// after "Key=").
type Option struct{ Key, Value string }

// Error is an encoding or serialization error. Its message names the unit,
// the section and the key, then says why:
// `units: ehecoatl-acme-web.service: [Service] ExecStart: argv[0] "app" is not an absolute path`.
type Error struct {
	Unit    string // empty when the section was used without a unit
	Section string
	Key     string // empty for an error about the section itself
	Err     error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("units: ")
	if e.Unit != "" {
		b.WriteString(e.Unit + ": ")
	}
	if e.Section != "" {
		fmt.Fprintf(&b, "[%s] ", e.Section)
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an empty unit.
func New(name string) *Unit { return &Unit{Name: name} }

// Section returns the named section, appending it if absent. A name that
// cannot be written is recorded as the unit's error; the section is still
// returned so that calls can be chained.
func (u *Unit) Section(name string) *Section {
	for _, s := range u.Sections {
		if s != nil && s.Name == name {
			return s
		}
	}
	if err := checkSectionName(name); err != nil && u.err == nil {
		u.err = &Error{Section: name, Err: err}
	}
	s := &Section{Name: name}
	u.Sections = append(u.Sections, s)
	return s
}

// add appends an encoded option after checking that it forms one safe line;
// it records the first error instead.
func (s *Section) add(key, encoded string, err error) {
	if err == nil {
		err = checkLine(key, encoded)
	}
	if err != nil {
		if s.err == nil {
			s.err = &Error{Section: s.Name, Key: key, Err: err}
		}
		return
	}
	s.Options = append(s.Options, Option{Key: key, Value: encoded})
}

// Err returns the first encoding error recorded by any Add* (in section
// order, the unit's own error first), naming the unit, section and key.
func (u *Unit) Err() error {
	errs := []*Error{u.err}
	for _, s := range u.Sections {
		if s != nil {
			errs = append(errs, s.err)
		}
	}
	for _, e := range errs {
		if e != nil {
			c := *e
			c.Unit = u.Name
			return &c
		}
	}
	return nil
}

// Merge appends copies of all options of src's sections to the sections of
// the same name in u (created if absent), in src's order. src is only read,
// so a shared, parsed fragment may be merged into many units at once. An
// error recorded in src becomes u's error.
func (u *Unit) Merge(src *Unit) {
	if src == nil {
		return
	}
	if err := src.Err(); err != nil && u.err == nil {
		u.err = &Error{Err: fmt.Errorf("merge: %w", err)}
	}
	for _, ss := range src.Sections {
		if ss == nil {
			continue
		}
		d := u.Section(ss.Name)
		d.Options = append(d.Options, ss.Options...)
	}
}

// Lookup returns the encoded values of key in section, in order (for tests
// and plan diffs); nil if there are none.
func (u *Unit) Lookup(section, key string) []string {
	var vals []string
	for _, s := range u.Sections {
		if s == nil || s.Name != section {
			continue
		}
		for _, o := range s.Options {
			if o.Key == key {
				vals = append(vals, o.Value)
			}
		}
	}
	return vals
}
