package units

import (
	"slices"
	"strings"
	"testing"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/; the f.Add calls below add
// the shared tricky cases on top.

// writeAndRead puts one option through Bytes and Parse and returns the
// encoded value read back.
func writeAndRead(t *testing.T, u *Unit, section, key string) string {
	t.Helper()
	b, err := u.Bytes()
	if err != nil {
		t.Fatalf("Bytes after a successful Add: %v", err)
	}
	p, err := Parse(u.Name, b)
	if err != nil {
		t.Fatalf("Parse(Bytes()): %v\n%q", err, b)
	}
	got := p.Lookup(section, key)
	if len(got) != 1 {
		t.Fatalf("read back %d values for %s, want 1:\n%q", len(got), key, b)
	}
	return got[0]
}

// FuzzValueRoundTrip: a value Add accepts comes back unchanged through
// Bytes, Parse and UnescapeValue; a value UnescapeValue accepts is
// re-encoded to the same text.
func FuzzValueRoundTrip(f *testing.F) {
	for _, w := range trickyWords {
		f.Add(w)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u := New("fuzz.service")
		u.Section("Service").Add("Description", s)
		if u.Err() == nil {
			enc := writeAndRead(t, u, "Service", "Description")
			if v, err := UnescapeValue(enc); err != nil || v != s {
				t.Fatalf("value %q: encoded %q, decoded %q, %v", s, enc, v, err)
			}
		} else if checkPlain(s) == nil {
			t.Fatalf("Add rejected %q, which checkPlain accepts: %v", s, u.Err())
		}

		sp := New("fuzz@.service")
		sp.Section("Service").AddSpecifier("Description", s)
		if sp.Err() == nil {
			enc := writeAndRead(t, sp, "Service", "Description")
			if _, err := instanceSpecifiers.UnescapeValue(enc); err != nil {
				t.Fatalf("AddSpecifier(%q) = %q, which does not decode for an instance: %v", s, enc, err)
			}
		}

		if v, err := UnescapeValue(s); err == nil {
			enc, err := encodeValue(v, false)
			if err != nil || enc != s {
				t.Fatalf("UnescapeValue(%q) = %q, re-encoded %q, %v", s, v, enc, err)
			}
		}
	})
}

// FuzzExecRoundTrip: words are the input split at NUL. An argv AddExec
// accepts comes back unchanged through Bytes, Parse and SplitExec (also with
// a fixed argv[0], so that the words are exercised); a line SplitExec
// accepts is re-encoded to a line that decodes to the same argv.
func FuzzExecRoundTrip(f *testing.F) {
	for _, a := range trickyArgvs {
		f.Add(strings.Join(a, "\x00"))
	}
	for _, w := range trickyWords {
		f.Add("/bin/echo\x00" + w)
	}
	f.Fuzz(func(t *testing.T, joined string) {
		argv := strings.Split(joined, "\x00")
		for _, a := range [][]string{argv, append([]string{"/usr/bin/prog"}, argv...)} {
			u := New("fuzz.service")
			u.Section("Service").AddExec("ExecStart", a)
			if u.Err() != nil {
				if checkArgv(a) == nil {
					t.Fatalf("AddExec rejected %q, which checkArgv accepts: %v", a, u.Err())
				}
				continue
			}
			enc := writeAndRead(t, u, "Service", "ExecStart")
			if back, err := SplitExec(enc); err != nil || !slices.Equal(back, a) {
				t.Fatalf("argv %q: encoded %q, decoded %q, %v", a, enc, back, err)
			}
		}

		if back, err := SplitExec(joined); err == nil {
			enc, err := encodeExec(back, false)
			if err != nil {
				t.Fatalf("SplitExec(%q) = %q, which AddExec rejects: %v", joined, back, err)
			}
			if again, err := SplitExec(enc); err != nil || !slices.Equal(again, back) {
				t.Fatalf("SplitExec(%q) = %q, re-encoded %q, decoded %q, %v", joined, back, enc, again, err)
			}
		}
	})
}

// FuzzEnvRoundTrip: a variable AddEnv accepts comes back unchanged; an
// Environment= value SplitEnv accepts is re-encoded to the same variable.
func FuzzEnvRoundTrip(f *testing.F) {
	for _, w := range trickyEnv {
		f.Add("KEY", w)
	}
	f.Add("1BAD", "x")
	f.Fuzz(func(t *testing.T, key, value string) {
		u := New("fuzz.service")
		u.Section("Service").AddEnv(key, value)
		if u.Err() == nil {
			enc := writeAndRead(t, u, "Service", "Environment")
			if k, v, err := SplitEnv(enc); err != nil || k != key || v != value {
				t.Fatalf("%s=%q: encoded %q, decoded %s=%q, %v", key, value, enc, k, v, err)
			}
		}
		if k, v, err := SplitEnv(value); err == nil {
			enc, err := encodeEnv(k, v, false)
			if err != nil {
				t.Fatalf("SplitEnv(%q) = %s=%q, which AddEnv rejects: %v", value, k, v, err)
			}
			if k2, v2, err := SplitEnv(enc); err != nil || k2 != k || v2 != v {
				t.Fatalf("SplitEnv(%q) = %s=%q, re-encoded %q, decoded %s=%q, %v", value, k, v, enc, k2, v2, err)
			}
		}
	})
}

// FuzzParse: Parse never panics, and whatever it accepts Bytes writes back
// so that Parse reads the same unit and Bytes is stable.
func FuzzParse(f *testing.F) {
	f.Add([]byte("[Service]\nExecStart=/bin/echo \"a b\" \\\n  c\n# comment\nEnvironment=\"A=1 2\"\n"))
	f.Add([]byte("\uFEFF[Unit]\r\nDescription=x \\\r\n; c\r\n y\r\n[Unit]\nAfter=a\\\\\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := Parse("fuzz.service", data)
		if err != nil {
			return
		}
		assertReparse(t, u)
	})
}
