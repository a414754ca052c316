package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// installedRoot is a --root whose /etc/ehecoatl holds the examples.
func installedRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"tenants", "kits"} {
		src := filepath.Join("..", "examples", d)
		dst := filepath.Join(root, "etc", "ehecoatl", d)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		es, _ := os.ReadDir(src)
		for _, e := range es {
			b, err := os.ReadFile(filepath.Join(src, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644)
		}
	}
	return root
}

// TestConventions: the command line behaves as its ecosystem's do
// (docs/OPERATIONS.md "The command line"): help CMD, unknown targets are
// exit 1 with the installed names, --help shows defaults and required
// flags.
func TestConventions(t *testing.T) {
	root := installedRoot(t)
	installed := "(installed: acme, globex, initech, umbrella)"
	for _, tc := range []struct {
		args     []string
		code     int
		out, err string // substrings
	}{
		{[]string{"help", "status"}, ExitOK, "ehecoatl status [command options] [TENANT[/APP]]", ""},
		{[]string{"help"}, ExitOK, "help, h", ""},
		{[]string{"apply", "--help"}, ExitOK, "DIR defaults to /etc/ehecoatl", ""},
		{[]string{"init", "--help"}, ExitOK, "(repeatable) (required)", ""},
		{[]string{"--root", root, "status", "nosuch"}, ExitFailed, "", `no tenant "nosuch" is installed ` + installed},
		{[]string{"--root", root, "status", "acme/nosuch"}, ExitFailed, "", `tenant acme has no app "nosuch" (apps: web)`},
		{[]string{"--root", root, "stop", "nosuch"}, ExitFailed, "", installed},
		{[]string{"--root", root, "restart", "acme/nosuch"}, ExitFailed, "", `(apps: web)`},
		{[]string{"--root", root, "logs", "nosuch"}, ExitFailed, "", `the journal has no lines of nosuch either`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := run(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errOut)
			}
			if !strings.Contains(out, tc.out) {
				t.Errorf("stdout lacks %q:\n%s", tc.out, out)
			}
			if !strings.Contains(errOut, tc.err) {
				t.Errorf("stderr lacks %q:\n%s", tc.err, errOut)
			}
		})
	}
}

// TestComplete: what the shell completions get for the words before the
// cursor and the word being completed (the last one, "" for a new word).
func TestComplete(t *testing.T) {
	root := installedRoot(t)
	for _, tc := range []struct {
		words []string
		want  []string // all of these
		not   []string // none of these
	}{
		{[]string{""}, []string{"apply", "status", "help"}, []string{"bridge", "acme"}},
		{[]string{"--root", root, "st"}, []string{"start", "status", "stop"}, nil},
		{[]string{"-"}, []string{"--root", "--help"}, nil},
		{[]string{"apply", "--"}, []string{"--dry-run", "--timings", "--help"}, []string{"--generate-bash-completion"}},
		{[]string{"apply", ""}, nil, []string{"acme", "--dry-run"}}, // DIR: file names
		{[]string{"--root", root, "logs", ""}, []string{"acme", "acme/web", "umbrella/api"}, nil},
		{[]string{"--root=" + root, "start", "a"}, []string{"acme", "acme/web"}, nil},
		{[]string{"--root", root, "logs", "-f", ""}, []string{"acme/web"}, nil},
		{[]string{"--root", root, "logs", "-o", ""}, nil, []string{"acme"}}, // -o's value
		{[]string{"--root", root, "logs", "acme", ""}, nil, []string{"acme"}},
		{[]string{"--root", root, "status", ""}, []string{"globex", "globex/www"}, nil},
		{[]string{"--root", root, "init", ""}, nil, []string{"acme"}}, // a new name
		{[]string{"logs", "-"}, []string{"--grep", "--priority", "--until", "--since", "--follow"}, nil},
		{[]string{"help", ""}, []string{"logs", "apply"}, nil},
		{[]string{"top", "--sort", ""}, []string{"cpu", "memory", "rps", "errors"}, nil},
		{[]string{"top", "-"}, []string{"--once", "--json", "--sort", "--metrics", "--interval"}, nil},
	} {
		t.Run(strings.Join(tc.words, " "), func(t *testing.T) {
			code, out, errOut := run(t, append(tc.words, completeFlag)...)
			if code != ExitOK || errOut != "" {
				t.Fatalf("exit %d, stderr %s", code, errOut)
			}
			got := strings.Fields(out)
			for _, w := range tc.want {
				if !slices.Contains(got, w) {
					t.Errorf("lacks %q: %v", w, got)
				}
			}
			for _, w := range tc.not {
				if slices.Contains(got, w) {
					t.Errorf("offers %q: %v", w, got)
				}
			}
		})
	}
}
