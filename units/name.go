package units

import (
	"errors"
	"fmt"
	"strings"
)

// unitTypes are the unit type suffixes systemd 252 knows (systemd.unit(5)).
var unitTypes = []string{
	"service", "socket", "device", "mount", "automount", "swap",
	"target", "path", "timer", "slice", "scope",
}

// ValidName reports whether name is a valid unit name for systemd, as
// unit_name_is_valid checks it: at most 255 bytes; characters
// [A-Za-z0-9:_.\-@] followed by a known type suffix (".service", ...). The
// first '@' splits a template ("foo@.service") or instance
// ("foo@bar.service") into prefix and instance: the prefix must not be
// empty, the instance may be (a template) and may hold further '@'. The
// error says which rule the name breaks.
func ValidName(name string) error {
	if err := validName(name); err != nil {
		return fmt.Errorf("units: unit name %q: %w", name, err)
	}
	return nil
}

func validName(name string) error {
	if len(name) > 255 {
		return fmt.Errorf("%d bytes long, at most 255 are allowed", len(name))
	}
	dot := strings.LastIndexByte(name, '.')
	if dot < 0 {
		return fmt.Errorf("no type suffix (one of .%s)", strings.Join(unitTypes, ", ."))
	}
	if !knownType(name[dot+1:]) {
		return fmt.Errorf("unknown type suffix %q (want one of .%s)", name[dot:], strings.Join(unitTypes, ", ."))
	}
	stem := name[:dot]
	if stem == "" {
		return errors.New("empty name before the type suffix")
	}
	for i := 0; i < len(stem); i++ {
		c := stem[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(":-_.\\@", c) >= 0) {
			return fmt.Errorf("character %q at byte %d is not allowed (only A-Z a-z 0-9 : - _ . \\ @)", rune(c), i)
		}
	}
	if stem[0] == '@' {
		return errors.New("empty prefix before '@'")
	}
	return nil
}

func knownType(t string) bool {
	for _, k := range unitTypes {
		if t == k {
			return true
		}
	}
	return false
}
