// Package templates holds the fixed unit-file fragments of Ehecoatl: the
// hardening profile of every generated service and the fixed options of
// services and sockets. They are written in unit-file syntax, embedded into
// the binaries, parsed with units.Parse and merged into each unit by the
// generator, so that the sandbox can be read (and reviewed) as one plain
// file with a comment on every option.
package templates

import (
	"embed"
	"fmt"
	"sync"

	"github.com/ehecoatl/ehecoatl/units"
)

// Names of the fragments.
const (
	// Hardening is the sandbox of every generated service ([Service]).
	Hardening = "hardening.conf"
	// Service holds the start limits and start type of every generated
	// service ([Unit], [Service]).
	Service = "service.conf"
	// Socket holds the fixed options of every app socket ([Socket]).
	Socket = "socket.conf"
)

//go:embed *.conf
var files embed.FS

// Names lists every fragment, sorted.
func Names() []string { return []string{Hardening, Service, Socket} }

// Bytes returns the text of a fragment, or nil if there is no such fragment.
func Bytes(name string) []byte {
	b, err := files.ReadFile(name)
	if err != nil {
		return nil
	}
	return b
}

// Parse parses a fragment into a fresh unit the caller may modify.
func Parse(name string) (*units.Unit, error) {
	b := Bytes(name)
	if b == nil {
		return nil, fmt.Errorf("templates: no fragment %q", name)
	}
	u, err := units.Parse(name, b)
	if err != nil {
		return nil, fmt.Errorf("templates: %s: %w", name, err)
	}
	return u, nil
}

// parsed caches one parse of every fragment: the fragments are embedded and
// therefore fixed for the life of the process.
var parsed = sync.OnceValues(func() (map[string]*units.Unit, error) {
	m := make(map[string]*units.Unit)
	for _, n := range Names() {
		u, err := Parse(n)
		if err != nil {
			return nil, err
		}
		m[n] = u
	}
	return m, nil
})

// Shared returns a parsed fragment shared by all callers. It must only be
// read (for example as the source of units.Unit.Merge), never modified;
// use Parse for a private copy.
func Shared(name string) (*units.Unit, error) {
	m, err := parsed()
	if err != nil {
		return nil, err
	}
	u, ok := m[name]
	if !ok {
		return nil, fmt.Errorf("templates: no fragment %q", name)
	}
	return u, nil
}
