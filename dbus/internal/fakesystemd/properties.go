package fakesystemd

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/godbus/dbus/v5"
)

// properties implements org.freedesktop.DBus.Properties for the manager
// object and every unit object below it.
type properties struct{ s *Systemd }

func (p properties) GetAll(msg dbus.Message, iface string) (map[string]dbus.Variant, *dbus.Error) {
	vals, err := p.s.lookup(msg, iface)
	if err != nil {
		return nil, err
	}
	out := make(map[string]dbus.Variant, len(vals))
	for k, v := range vals {
		out[k] = dbus.MakeVariant(v)
	}
	return out, nil
}

func (p properties) Get(msg dbus.Message, iface, name string) (dbus.Variant, *dbus.Error) {
	vals, err := p.s.lookup(msg, iface)
	if err != nil {
		return dbus.Variant{}, err
	}
	v, ok := vals[name]
	if !ok {
		return dbus.Variant{}, dbus.NewError("org.freedesktop.DBus.Error.UnknownProperty", []any{"Unknown property " + name})
	}
	return dbus.MakeVariant(v), nil
}

// lookup returns a copy of the properties of iface on the called object.
func (s *Systemd) lookup(msg dbus.Message, iface string) (map[string]any, *dbus.Error) {
	path, _ := msg.Headers[dbus.FieldPath].Value().(dbus.ObjectPath)
	s.mu.Lock()
	defer s.mu.Unlock()
	if path == managerPath {
		s.record("GetAll manager %s", iface)
		if iface != managerIf {
			return nil, unknownInterface(iface)
		}
		return s.managerProps(), nil
	}
	name, ok := unitName(path)
	if !ok {
		return nil, dbus.NewError("org.freedesktop.DBus.Error.UnknownObject", []any{"Unknown object " + string(path)})
	}
	s.record("GetAll %s %s", name, iface)
	short := strings.TrimPrefix(iface, "org.freedesktop.systemd1.")
	u, ok := s.units[name]
	if !ok { // systemd loads unknown names on demand: a not-found unit
		u = &Unit{Props: defaultProps(name)}
		u.Props["Unit"]["LoadState"] = "not-found"
		u.Props["Unit"]["UnitFileState"] = ""
		u.Props["Unit"]["FragmentPath"] = ""
	}
	vals, ok := u.Props[short]
	if !ok {
		return nil, unknownInterface(iface)
	}
	out := make(map[string]any, len(vals))
	for k, v := range vals {
		out[k] = v
	}
	return out, nil
}

func (s *Systemd) managerProps() map[string]any {
	var failed uint32
	for _, u := range s.units {
		if u.Props["Unit"]["ActiveState"] == "failed" {
			failed++
		}
	}
	return map[string]any{
		"Version":        Version,
		"SystemState":    "running",
		"NNames":         uint32(len(s.units)),
		"NFailedUnits":   failed,
		"NJobs":          uint32(len(s.running)),
		"NInstalledJobs": s.installed,
		"NFailedJobs":    uint32(0),
	}
}

func unknownInterface(iface string) *dbus.Error {
	return dbus.NewError("org.freedesktop.DBus.Error.UnknownInterface", []any{"Unknown interface " + iface})
}

// unitPath and unitName convert like sd_bus_path_encode/decode: bytes
// outside [A-Za-z0-9] (and a leading digit) are _XX.
func unitPath(name string) dbus.ObjectPath {
	var b strings.Builder
	b.WriteString(unitPrefix)
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' && i > 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "_%02x", c)
		}
	}
	return dbus.ObjectPath(b.String())
}

func unitName(path dbus.ObjectPath) (string, bool) {
	enc, ok := strings.CutPrefix(string(path), unitPrefix)
	if !ok || enc == "" || strings.Contains(enc, "/") {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(enc); i++ {
		if enc[i] != '_' {
			b.WriteByte(enc[i])
			continue
		}
		if i+2 >= len(enc) {
			return "", false
		}
		x, err := hex.DecodeString(enc[i+1 : i+3])
		if err != nil {
			return "", false
		}
		b.Write(x)
		i += 2
	}
	return b.String(), true
}

func unitType(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i+1:]
	}
	return ""
}
