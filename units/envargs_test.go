package units

import (
	"slices"
	"strings"
	"testing"
)

func TestEnvArgsRoundTrip(t *testing.T) {
	argvs := [][]string{nil, {""}, {"", ""}, trickyWords}
	for _, w := range trickyWords {
		argvs = append(argvs, []string{w}, []string{"a", w, "b"})
	}
	for _, words := range argvs {
		if slices.ContainsFunc(words, func(w string) bool { return checkText(w) != nil }) {
			continue
		}
		v, err := EnvArgs(words)
		if err != nil {
			t.Fatalf("EnvArgs(%q): %v", words, err)
		}
		if got := SplitEnvArgs(v); !slices.Equal(got, words) && !(len(got) == 0 && len(words) == 0) {
			t.Errorf("EnvArgs(%q) = %q, splits to %q", words, v, got)
		}
		// Through the env file as well: what systemd hands replace_env_argv.
		b, err := EnvFile(map[string]string{"ARGS": v})
		if err != nil {
			t.Fatalf("EnvFile: %v", err)
		}
		back, err := ParseEnvFile(b)
		if err != nil || back["ARGS"] != v {
			t.Errorf("env file %q read back as %q, %v", b, back["ARGS"], err)
		}
	}
	if _, err := EnvArgs([]string{"a\nb"}); err == nil {
		t.Errorf("EnvArgs accepted a newline")
	}
}

// TestSplitEnvArgs: systemd 252's splitting of "$VAR" (extract_first_word
// with EXTRACT_UNQUOTE|EXTRACT_RELAX), case by case from its source.
func TestSplitEnvArgs(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"   ", nil},
		{"a  b\tc\n", []string{"a", "b", "c"}},
		{`''`, []string{""}},
		{`'' ""`, []string{"", ""}},
		{`'a b'c"d e"`, []string{"a bcd e"}},
		{`a\ b`, []string{"a b"}},
		{`'it\'s'`, []string{"it's"}},
		{`"\n"`, []string{"n"}}, // no C escapes
		{`\\x`, []string{`\x`}},
		{`$HOME %i ;`, []string{"$HOME", "%i", ";"}}, // nothing expanded
		{`'open`, []string{"open"}},                  // EXTRACT_RELAX
		{`end\`, []string{"end"}},
	} {
		if got := SplitEnvArgs(c.in); !slices.Equal(got, c.want) {
			t.Errorf("SplitEnvArgs(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestAddExecArgsVar(t *testing.T) {
	u := New("x.service")
	u.Section("Service").AddExecArgsVar("ExecStart", "/opt/my app/100%/run", "EHECOATL_ARGS")
	got := writeAndRead(t, u, "Service", "ExecStart")
	if want := `"/opt/my app/100%%/run" $EHECOATL_ARGS`; got != want {
		t.Errorf("ExecStart=%s, want %s", got, want)
	}
	p, v, err := SplitExecArgsVar(got)
	if err != nil || p != "/opt/my app/100%/run" || v != "EHECOATL_ARGS" {
		t.Errorf("SplitExecArgsVar: %q %q %v", p, v, err)
	}
	for _, bad := range []struct{ program, v string }{{"relative", "A"}, {"/bin/x", "1A"}, {"/bin/x", "A B"}, {"/bin/$x", "A"}} {
		u := New("x.service")
		u.Section("Service").AddExecArgsVar("ExecStart", bad.program, bad.v)
		if _, err := u.Bytes(); err == nil {
			t.Errorf("AddExecArgsVar(%q, %q) accepted", bad.program, bad.v)
		}
	}
	if _, _, err := SplitExecArgsVar("/bin/x a $B"); err == nil || !strings.Contains(err.Error(), "program $VAR") {
		t.Errorf("SplitExecArgsVar of two words: %v", err)
	}
}

func FuzzEnvArgs(f *testing.F) {
	for _, w := range trickyWords {
		f.Add(w, "x")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		words := []string{a, b}
		v, err := EnvArgs(words)
		if err != nil {
			return
		}
		if got := SplitEnvArgs(v); !slices.Equal(got, words) {
			t.Errorf("EnvArgs(%q) = %q, splits to %q", words, v, got)
		}
	})
}
