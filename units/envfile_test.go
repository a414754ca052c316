package units

import (
	"reflect"
	"strings"
	"testing"
)

func TestEnvFile(t *testing.T) {
	vars := map[string]string{
		"PLAIN":  "value",
		"QUOTES": `say "hi" and 'bye'`,
		"DOLLAR": "$HOME ${USER} $$",
		"BACK":   `C:\tmp\new \\ end\`,
		"TICK":   "`id`",
		"PCT":    "100% %i %%",
		"SPACES": "  lead and trail  ",
		"EMPTY":  "",
		"UNI":    "café ✓",
	}
	b, err := EnvFile(vars)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "BACK=\"C:\\\\tmp\\\\new \\\\\\\\ end\\\\\"\n") {
		t.Errorf("unexpected encoding:\n%s", b)
	}
	got, err := ParseEnvFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, vars) {
		t.Errorf("round trip:\n got %q\nwant %q", got, vars)
	}
	for _, bad := range []map[string]string{{"A": "x\ny"}, {"A": "tab\there"}, {"1A": "x"}, {"A-B": "x"}} {
		if _, err := EnvFile(bad); err == nil {
			t.Errorf("EnvFile(%q) accepted", bad)
		}
	}
}

func FuzzEnvFileRoundTrip(f *testing.F) {
	f.Add("K", `a "b" \c $d`)
	f.Fuzz(func(t *testing.T, k, v string) {
		b, err := EnvFile(map[string]string{k: v})
		if err != nil {
			return
		}
		got, err := ParseEnvFile(b)
		if err != nil || got[k] != v || len(got) != 1 {
			t.Fatalf("%q=%q -> %q -> %q, %v", k, v, b, got, err)
		}
	})
}
