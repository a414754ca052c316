package units

import (
	"strings"
	"testing"
)

func TestAddEnv(t *testing.T) {
	cases := []struct {
		key, value, want, err string
	}{
		{key: "SHOP_MODE", value: "prod", want: "SHOP_MODE=prod"},
		{key: "EMPTY", value: "", want: "EMPTY="},
		{key: "_X1", value: "a=b", want: "_X1=a=b"},
		{key: "GREETING", value: "hello world", want: `"GREETING=hello world"`},
		{key: "Q", value: `say "hi"`, want: `"Q=say \"hi\""`},
		{key: "S", value: "it's", want: `"S=it's"`},
		{key: "B", value: `C:\x\`, want: `"B=C:\\x\\"`},
		{key: "D", value: "$HOME ${X}", want: `"D=$HOME ${X}"`},
		{key: "P", value: "100%i", want: "P=100%%i"},
		{key: "W", value: " padded ", want: `"W= padded "`},
		{key: "U", value: "日本語", want: "U=日本語"},
		{key: "1X", value: "v", err: `variable name "1X" is invalid`},
		{key: "", value: "v", err: `variable name "" is invalid`},
		{key: "A-B", value: "v", err: "is invalid"},
		{key: "A=B", value: "v", err: "is invalid"},
		{key: "É", value: "v", err: "is invalid"},
		{key: "NL", value: "a\nb", err: "variable NL: line break"},
		{key: "TAB", value: "a\tb", err: "variable TAB: tab"},
		{key: "BAD", value: "\xff", err: "invalid UTF-8"},
	}
	for _, c := range cases {
		u := New("t.service")
		u.Section("Service").AddEnv(c.key, c.value)
		err := u.Err()
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "[Service] Environment: ") {
				t.Errorf("%s=%q: error %v, want one naming the key and containing %q", c.key, c.value, err, c.err)
			}
			continue
		}
		got := u.Lookup("Service", "Environment")
		if err != nil || len(got) != 1 || got[0] != c.want {
			t.Errorf("%s=%q: got %q, %v; want %q", c.key, c.value, got, err, c.want)
			continue
		}
		k, v, err := SplitEnv(got[0])
		if err != nil || k != c.key || v != c.value {
			t.Errorf("SplitEnv(%q) = %q, %q, %v", got[0], k, v, err)
		}
	}
}

func TestAddEnvSpecifier(t *testing.T) {
	u := New("ehecoatl-acme-web@.service")
	u.Section("Service").AddEnvSpecifier("EHECOATL_WORKER", "%i")
	got := u.Lookup("Service", "Environment")
	if len(got) != 1 || got[0] != "EHECOATL_WORKER=%i" {
		t.Fatalf("got %q (err %v)", got, u.Err())
	}
	if k, v, err := (Specifiers{'i': "4"}).SplitEnv(got[0]); err != nil || k != "EHECOATL_WORKER" || v != "4" {
		t.Errorf("SplitEnv = %q %q %v", k, v, err)
	}
}

func TestSplitEnv(t *testing.T) {
	cases := []struct {
		in, key, value, err string
	}{
		{in: "A=1", key: "A", value: "1"},
		{in: `"A=x y"`, key: "A", value: "x y"},
		{in: `'A=x "y"'`, key: "A", value: `x "y"`},
		{in: `A="x y"`, key: "A", value: "x y"},
		{in: `"A=\x41\s"`, key: "A", value: "A "},
		{in: `"A=%%i"`, key: "A", value: "%i"},
		{in: "A=$$", key: "A", value: "$$"},
		{in: "", err: "no assignment"},
		{in: "A=1 B=2", err: "more than one assignment"},
		{in: "A", err: "no '='"},
		{in: "1A=x", err: "is invalid"},
		{in: `"A=\t"`, err: "tab"},
		{in: `"A=x`, err: "unbalanced"},
		{in: "A=%i", err: "%i has no value"},
		{in: `A=\x25i`, err: "%i has no value"}, // unquoted before specifiers, as systemd does
	}
	for _, c := range cases {
		k, v, err := SplitEnv(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: got %q %q %v; want error %q", c.in, k, v, err, c.err)
			}
			continue
		}
		if err != nil || k != c.key || v != c.value {
			t.Errorf("%q: got %q %q %v; want %q %q", c.in, k, v, err, c.key, c.value)
		}
	}
}
