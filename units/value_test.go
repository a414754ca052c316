package units

import (
	"strings"
	"testing"
)

// encodeCase: in -> encoded, or an error containing err.
type encodeCase struct {
	name, in, want, err string
}

func runEncode(t *testing.T, cases []encodeCase, add func(s *Section, v string)) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := New("t.service")
			add(u.Section("Service"), c.in)
			err := u.Err()
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("in %q: error %v, want one containing %q", c.in, err, c.err)
				}
				if got := u.Lookup("Service", "K"); got != nil {
					t.Errorf("rejected value was still added: %q", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("in %q: %v", c.in, err)
			}
			if got := u.Lookup("Service", "K"); len(got) != 1 || got[0] != c.want {
				t.Fatalf("in %q: encoded %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestAdd(t *testing.T) {
	runEncode(t, []encodeCase{
		{name: "plain", in: "Acme web shop", want: "Acme web shop"},
		{name: "empty", in: "", want: ""},
		{name: "percent", in: "100% done", want: "100%% done"},
		{name: "specifier-like", in: "%i %n %%", want: "%%i %%n %%%%"},
		{name: "quotes kept verbatim", in: `say "hi" 'x'`, want: `say "hi" 'x'`},
		{name: "inner backslash", in: `a\b`, want: `a\b`},
		{name: "dollar", in: "$HOME", want: "$HOME"},
		{name: "unicode", in: "café 日本", want: "café 日本"},
		{name: "newline", in: "a\nExecStartPre=/bin/evil", err: "line break at byte 1"},
		{name: "CR", in: "a\rb", err: "line break"},
		{name: "NUL", in: "a\x00b", err: "NUL byte"},
		{name: "tab", in: "a\tb", err: "tab at byte 1"},
		{name: "escape char", in: "a\x1bb", err: "control character U+001B"},
		{name: "DEL", in: "a\x7f", err: "control character U+007F"},
		{name: "invalid UTF-8", in: "a\xffb", err: "invalid UTF-8 at byte 1"},
		{name: "leading space", in: " a", err: "leading or trailing spaces"},
		{name: "trailing space", in: "a ", err: "leading or trailing spaces"},
		{name: "trailing backslash", in: `a\`, err: "trailing backslash"},
		{name: "trailing double backslash", in: `a\\`, err: "trailing backslash"},
	}, func(s *Section, v string) { s.Add("K", v) })
}

func TestAddSpecifier(t *testing.T) {
	runEncode(t, []encodeCase{
		{name: "instance socket", in: "/run/ehecoatl/acme/web@%i.sock", want: "/run/ehecoatl/acme/web@%i.sock"},
		{name: "all allowed", in: "%i %I %n %N %p %%", want: "%i %I %n %N %p %%"},
		{name: "state dir", in: "ehecoatl-acme-web-%i", want: "ehecoatl-acme-web-%i"},
		{name: "credentials dir", in: "%d/key", err: `specifier "%d" is not allowed`},
		{name: "home", in: "%h", err: `specifier "%h" is not allowed`},
		{name: "lone percent", in: "50%", err: "lone '%'"},
		{name: "newline", in: "%i\n", err: "line break"},
	}, func(s *Section, v string) { s.AddSpecifier("K", v) })
}

func TestAddList(t *testing.T) {
	cases := []struct {
		words     []string
		want, err string
	}{
		{words: []string{"/srv/shop", "/srv/media"}, want: "/srv/shop /srv/media"},
		{words: []string{"~@privileged", "@resources"}, want: "~@privileged @resources"},
		{words: []string{"/srv/100%"}, want: "/srv/100%%"},
		{words: nil, err: "empty list"},
		{words: []string{"/srv/my shop"}, err: `word 0 "/srv/my shop" is empty or holds a space`},
		{words: []string{"/a", ""}, err: "word 1"},
		{words: []string{`/a"b`}, err: "quote or backslash"},
		{words: []string{`/a\b`}, err: "quote or backslash"},
		{words: []string{"/a\nb"}, err: "line break"},
	}
	for _, c := range cases {
		u := New("t.service")
		u.Section("Service").AddList("ReadOnlyPaths", c.words)
		err := u.Err()
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.words, err, c.err)
			}
			continue
		}
		if got := u.Lookup("Service", "ReadOnlyPaths"); err != nil || len(got) != 1 || got[0] != c.want {
			t.Errorf("%q: got %q, %v; want %q", c.words, got, err, c.want)
		}
	}
}

func TestUnescapeValue(t *testing.T) {
	cases := []struct {
		sp        Specifiers
		in        string
		want, err string
	}{
		{in: "100%% done", want: "100% done"},
		{in: "%%%%i", want: "%%i"},
		{in: "plain", want: "plain"},
		{in: "/run/x@%i.sock", err: "specifier %i has no value"},
		{sp: Specifiers{'i': "3"}, in: "/run/x@%i.sock", want: "/run/x@3.sock"},
		{sp: Specifiers{'i': "3", 'p': "x"}, in: "%p-%i-%%", want: "x-3-%"},
		{in: "50%", err: "lone '%'"},
		{in: `a\`, err: "trailing backslash"},
		{in: "a\x01", err: "control character"},
	}
	for _, c := range cases {
		got, err := c.sp.UnescapeValue(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: got %q, %v; want error %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: got %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestSet(t *testing.T) {
	u := New("a.service")
	s := u.Section("Service")
	s.Add("Type", "exec")
	s.Add("User", "x")
	s.Add("Type", "simple")
	s.Set("Type", "notify")
	if got := u.Lookup("Service", "Type"); len(got) != 1 || got[0] != "notify" {
		t.Errorf("Type = %q after Set", got)
	}
	if got := u.Lookup("Service", "User"); len(got) != 1 {
		t.Errorf("User = %q: Set dropped another key", got)
	}
}
