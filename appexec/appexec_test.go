package appexec

import (
	"slices"
	"strings"
	"testing"
)

func TestSplit(t *testing.T) {
	for _, c := range []struct {
		name     string
		environ  []string
		argv     []string
		rest     []string
		errorHas string
	}{
		{name: "words in any order, the rest kept in order",
			environ: []string{"A=1", Prefix + "1=two words", "B=", Prefix + "0=/bin/echo", Prefix + "2=", "C=x=y"},
			argv:    []string{"/bin/echo", "two words", ""}, rest: []string{"A=1", "B=", "C=x=y"}},
		{name: "a value with = and the prefix inside",
			environ: []string{Prefix + "0=/bin/x", Prefix + "1=" + Prefix + "5=a"},
			argv:    []string{"/bin/x", Prefix + "5=a"}, rest: []string{}},
		{name: "ten words sort as 0 1 10 2",
			environ: []string{Prefix + "0=a", Prefix + "1=b", Prefix + "10=k", Prefix + "2=c", Prefix + "3=d", Prefix + "4=e", Prefix + "5=f", Prefix + "6=g", Prefix + "7=h", Prefix + "8=i", Prefix + "9=j"},
			argv:    []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"}, rest: []string{}},
		{name: "a similar name is not a word", environ: []string{"EHECOATL_ARGV=x", Prefix[:len(Prefix)-1] + "0=y", Prefix + "0=/bin/z"},
			argv: []string{"/bin/z"}, rest: []string{"EHECOATL_ARGV=x", Prefix[:len(Prefix)-1] + "0=y"}},
		{name: "none", environ: []string{"A=1"}, errorHas: "no " + Prefix + "0 in the environment"},
		{name: "gap", environ: []string{Prefix + "0=a", Prefix + "2=c"}, errorHas: Prefix + "1 is missing"},
		{name: "no word 0", environ: []string{Prefix + "1=a"}, errorHas: Prefix + "0 is missing"},
		{name: "twice", environ: []string{Prefix + "0=a", Prefix + "0=b"}, errorHas: "set twice"},
		{name: "leading zero", environ: []string{Prefix + "0=a", Prefix + "01=b"}, errorHas: "not a word number"},
		{name: "sign", environ: []string{Prefix + "+0=a"}, errorHas: "not a word number"},
		{name: "huge", environ: []string{Prefix + "0=a", Prefix + "99999999999=b"}, errorHas: "not a word number"},
		{name: "empty number", environ: []string{Prefix + "=a"}, errorHas: "not a word number"},
		{name: "no =", environ: []string{Prefix + "0"}, errorHas: "has no '='"},
	} {
		t.Run(c.name, func(t *testing.T) {
			argv, rest, err := Split(c.environ)
			if c.errorHas != "" {
				if err == nil || !strings.Contains(err.Error(), c.errorHas) {
					t.Fatalf("Split(%q) = %q, %v; want an error with %q", c.environ, argv, err, c.errorHas)
				}
				return
			}
			if err != nil || !slices.Equal(argv, c.argv) || !slices.Equal(rest, c.rest) {
				t.Fatalf("Split(%q) = %q, %q, %v; want %q, %q", c.environ, argv, rest, err, c.argv, c.rest)
			}
		})
	}
}

// FuzzRoundTrip: whatever argv Vars writes, Split gives back, next to any
// other variables.
func FuzzRoundTrip(f *testing.F) {
	f.Add("/usr/bin/python3\x00-c\x00print(1)\x00\x00two words", "A=1")
	f.Add("/bin/x", "")
	f.Fuzz(func(t *testing.T, words, other string) {
		argv := strings.Split(words, "\x00")
		var environ []string
		for k, v := range Vars(argv) {
			environ = append(environ, k+"="+v)
		}
		var rest []string
		for _, kv := range strings.Split(other, "\x00") {
			if kv != "" && strings.Contains(kv, "=") && !strings.HasPrefix(kv, Prefix) {
				rest = append(rest, kv)
			}
		}
		environ = append(rest, environ...)
		got, gotRest, err := Split(environ)
		if err != nil || !slices.Equal(got, argv) || !slices.Equal(gotRest, rest) && len(rest)+len(gotRest) > 0 {
			t.Fatalf("Split(Vars(%q)) = %q, %q, %v", argv, got, gotRest, err)
		}
	})
}
