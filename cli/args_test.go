package cli

import (
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestInterspersed(t *testing.T) {
	app := New(io.Discard, io.Discard)
	for in, want := range map[string]string{
		"ehecoatl logs acme -n 5":                    "ehecoatl logs -n 5 acme",
		"ehecoatl logs acme/web -f --since 1h":       "ehecoatl logs -f --since 1h acme/web",
		"ehecoatl --root /r plan dir --json":         "ehecoatl --root /r plan --json dir",
		"ehecoatl plan --json dir":                   "ehecoatl plan --json dir",
		"ehecoatl init acme --domain a.example.test": "ehecoatl init --domain a.example.test acme",
		"ehecoatl logs acme -- -n":                   "ehecoatl logs acme -- -n",
		"ehecoatl frob x -y":                         "ehecoatl frob x -y",
		"ehecoatl":                                   "ehecoatl",
	} {
		got := interspersed(app, strings.Fields(in))
		if !reflect.DeepEqual(got, strings.Fields(want)) {
			t.Errorf("%q -> %q, want %q", in, strings.Join(got, " "), want)
		}
	}
}
