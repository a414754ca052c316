package units

import (
	"strings"
	"testing"
)

func TestValidName(t *testing.T) {
	cases := []struct{ name, err string }{
		{name: "ehecoatl.slice"},
		{name: "ehecoatl-acme.slice"},
		{name: "ehecoatl-acme-web.service"},
		{name: "ehecoatl-acme-web.socket"},
		{name: "ehecoatl-acme-web@.service"},
		{name: "ehecoatl-acme-web@2.socket"},
		{name: "ehecoatl-acme-web-bridge@12.service"},
		{name: "getty@tty1.service"},
		{name: "a@b@c.service"}, // the instance may hold '@'
		{name: `dev-disk-by\x2dlabel.device`},
		{name: "x:y_z.target"},
		{name: "sockets.target.wants.timer"},
		{name: strings.Repeat("a", 247) + ".service"},
		{name: strings.Repeat("a", 248) + ".service", err: "256 bytes long, at most 255"},
		{name: "", err: "no type suffix"},
		{name: "ehecoatl-acme", err: "no type suffix"},
		{name: "ehecoatl.conf", err: `unknown type suffix ".conf"`},
		{name: "x.Service", err: "unknown type suffix"},
		{name: ".service", err: "empty name"},
		{name: "@x.service", err: "empty prefix before '@'"},
		{name: "@.service", err: "empty prefix"},
		{name: "a b.service", err: `character ' ' at byte 1 is not allowed`},
		{name: "a/b.service", err: "character '/'"},
		{name: "../x.service", err: "character '/'"},
		{name: "ä.service", err: "not allowed"},
		{name: "a\n.service", err: "not allowed"},
	}
	for _, c := range cases {
		err := ValidName(c.name)
		if c.err == "" {
			if err != nil {
				t.Errorf("%q: %v", c.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%q: error %v, want one containing %q", c.name, err, c.err)
		}
	}
}
