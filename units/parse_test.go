package units

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestParseGolden parses every testdata/parse file: a good one must match
// its .json (sections and encoded options) and survive Bytes -> Parse; a
// bad-* one must fail with the message in its .err.
func TestParseGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/parse/*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range files {
		if strings.HasSuffix(p, ".json") || strings.HasSuffix(p, ".err") {
			continue
		}
		n++
		name := filepath.Base(p)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			u, err := Parse(name, data)
			stem := strings.TrimSuffix(p, filepath.Ext(p))
			if strings.HasPrefix(name, "bad-") {
				want, rerr := os.ReadFile(stem + ".err")
				if rerr != nil {
					t.Fatal(rerr)
				}
				if err == nil || err.Error() != "units: "+strings.TrimSpace(string(want)) {
					t.Fatalf("error %v, want units: %s", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.MarshalIndent(u.Sections, "", "  ")
			golden(t, "parse/"+filepath.Base(stem)+".json", append(got, '\n'))
			assertReparse(t, u)
		})
	}
	if n < 10 {
		t.Fatalf("only %d files in testdata/parse", n)
	}
}

// assertReparse checks that Bytes writes u so that Parse reads it back
// equal, and that writing again gives the same bytes.
func assertReparse(t *testing.T, u *Unit) []byte {
	t.Helper()
	b, err := u.Bytes()
	if err != nil {
		t.Fatalf("Bytes of a parsed unit: %v", err)
	}
	u2, err := Parse(u.Name, b)
	if err != nil {
		t.Fatalf("Parse(Bytes()): %v\n%s", err, b)
	}
	if !sameSections(u, u2) {
		t.Fatalf("Parse(Bytes()) differs:\n%+v\n%+v", sectionsOf(u), sectionsOf(u2))
	}
	if b2, _ := u2.Bytes(); string(b2) != string(b) {
		t.Fatalf("Bytes not stable:\n%q\n%q", b, b2)
	}
	return b
}

func sectionsOf(u *Unit) []Section {
	var s []Section
	for _, x := range u.Sections {
		if x != nil {
			s = append(s, Section{Name: x.Name, Options: slices.Clip(x.Options)})
		}
	}
	return s
}

func sameSections(a, b *Unit) bool { return reflect.DeepEqual(sectionsOf(a), sectionsOf(b)) }

func TestSplitLines(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a", []string{"a"}},
		{"a\n", []string{"a"}},
		{"a\n\nb", []string{"a", "", "b"}},
		{"a\r\nb\n\rc\rd", []string{"a", "b", "c", "d"}},
		{"a\r\n\r\nb", []string{"a", "", "b"}},
		{"a\x00b", []string{"a", "b"}},
		{"a\n\r\x00b", []string{"a", "b"}},
		{"a\x00\nb", []string{"a", "", "b"}},
	}
	for _, c := range cases {
		if got := splitLines([]byte(c.in)); !slices.Equal(got, c.want) {
			t.Errorf("%q: %q, want %q", c.in, got, c.want)
		}
	}
}

// TestRoundTrip encodes many values, argvs and variables, writes the unit,
// parses it and decodes every option back to the original.
func TestRoundTrip(t *testing.T) {
	u := New("ehecoatl-rt-app.service")
	s := u.Section("Service")
	var values, keys []string
	var argvs [][]string
	for i, w := range trickyWords {
		if checkPlain(w) == nil {
			values = append(values, w)
			s.Add("X-Value", w)
		}
		argvs = append(argvs, []string{"/bin/echo", w}, []string{"/bin/echo", w, w, "x"})
		if a := []string{"/opt/" + w + "/bin"}; checkArgv(a) == nil {
			argvs = append(argvs, a)
		}
		keys = append(keys, "V"+string(rune('A'+i%26))+strings.Repeat("_", i/26))
		s.AddEnv(keys[i], w)
	}
	argvs = append(argvs, trickyArgvs...)
	for _, a := range argvs {
		s.AddExec("ExecStart", a)
	}
	if err := u.Err(); err != nil {
		t.Fatal(err)
	}
	b := assertReparse(t, u)
	p, _ := Parse(u.Name, b)

	gotValues := p.Lookup("Service", "X-Value")
	for i, enc := range gotValues {
		if v, err := UnescapeValue(enc); err != nil || v != values[i] {
			t.Errorf("value %q: encoded %q, decoded %q, %v", values[i], enc, v, err)
		}
	}
	gotExec := p.Lookup("Service", "ExecStart")
	if len(gotExec) != len(argvs) || len(gotValues) != len(values) {
		t.Fatalf("%d of %d exec lines, %d of %d values", len(gotExec), len(argvs), len(gotValues), len(values))
	}
	for i, enc := range gotExec {
		if a, err := SplitExec(enc); err != nil || !slices.Equal(a, argvs[i]) {
			t.Errorf("argv %q: encoded %q, decoded %q, %v", argvs[i], enc, a, err)
		}
	}
	gotEnv := p.Lookup("Service", "Environment")
	for i, enc := range gotEnv {
		if k, v, err := SplitEnv(enc); err != nil || k != keys[i] || v != trickyWords[i] {
			t.Errorf("env %s=%q: encoded %q, decoded %s=%q, %v", keys[i], trickyWords[i], enc, k, v, err)
		}
	}
	t.Logf("%d values, %d argvs, %d variables round-tripped", len(values), len(argvs), len(gotEnv))
}

func TestParseLimits(t *testing.T) {
	long := strings.Repeat("x", maxLine)
	cases := []struct{ in, err string }{
		{"[A]\nK=" + long + "\n", "a.service:2: line is longer than systemd's limit"},
		{"[A]\nK=" + long[:maxLine/2] + "\\\n" + long[:maxLine/2] + "\n", "a.service:3: continued line is longer"},
	}
	for _, c := range cases {
		if _, err := Parse("a.service", []byte(c.in)); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%.20q...: %v, want %q", c.in, err, c.err)
		}
	}
	// A long comment inside a continuation is skipped, as systemd does.
	in := "[A]\nK=a\\\n#" + long[:maxLine-1] + "\n b\n"
	if u, err := Parse("a.service", []byte(in)); err != nil || !slices.Equal(u.Lookup("A", "K"), []string{"a  b"}) {
		t.Errorf("long comment in a continuation: %v", err)
	}
}
