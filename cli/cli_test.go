package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run runs the CLI in-process and returns exit code, stdout and stderr.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(context.Background(), append([]string{"ehecoatl"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestExitCodes(t *testing.T) {
	root := t.TempDir()
	for _, tc := range []struct {
		args     []string
		code     int
		out, err string // substrings
	}{
		{[]string{"validate", "../examples"}, ExitOK, "valid (4 tenants", ""},
		{[]string{"validate", "../manifest/testdata/invalid/unknown_key_app"}, ExitFailed, "", "tenants/acme.yaml:"},
		{[]string{"validate", "../manifest/testdata/invalid/unknown_key_app", "extra"}, ExitUsage, "", "at most one DIR"},
		{[]string{"validate", "--bogus"}, ExitUsage, "", "flag provided but not defined"},
		{[]string{"frobnicate"}, ExitUsage, "", `unknown command "frobnicate"`},
		{[]string{"--root", root, "plan", "../examples"}, ExitOK, "+ tenant acme", ""},
		{[]string{"--root", root, "plan", "../examples", "--json"}, ExitOK, `"tenants_added": [`, ""},
		{[]string{"--root", root, "plan", "../manifest/testdata/invalid/bad_sizes"}, ExitFailed, "", "nothing was changed"},
		{[]string{"--root", root, "apply", "--dry-run", "../examples"}, ExitOK, "+ app globex/www", ""},
		{[]string{"--root", root, "apply", "../manifest/testdata/invalid/name_upper"}, ExitFailed, "", "error(s), nothing was changed"},
		{[]string{"generate", "../examples"}, ExitUsage, "", "needs DIR and OUTDIR"},
		{[]string{"init", "Acme", "--domain", "a.example.test", "--dir", root}, ExitUsage, "", "would be invalid"},
		{[]string{"init", "acme"}, ExitUsage, "", "domain"},
		{[]string{"purge", "a-b", "--yes"}, ExitUsage, "", ""},
		{[]string{"version"}, ExitOK, "ehecoatl dev", ""},
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

// TestInitWritesAValidManifest: init's starter validates, and init never
// overwrites.
func TestInitWritesAValidManifest(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"init", "acme", "--domain", "acme.example.test", "--domain", "www.acme.example.test", "--dir", dir},
		{"init", "globex", "--domain", "globex.example.test", "--port", "9000", "--command", "/usr/bin/python3 -m http.server --bind 127.0.0.1 9000", "--dir", dir},
		{"init", "initech", "--domain", "initech.example.test", "--command", "/srv/initech/bin/site --activation", "--dir", dir},
	} {
		if code, out, errOut := run(t, args...); code != ExitOK {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
	}
	if code, out, errOut := run(t, "validate", dir); code != ExitOK {
		t.Fatalf("init's manifests do not validate: %s%s", out, errOut)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "tenants", "initech.yaml"))
	if !strings.Contains(string(b), "listen: activation") {
		t.Errorf("a custom command without --port should be socket-activated:\n%s", b)
	}
	code, _, errOut := run(t, "init", "acme", "--domain", "x.example.test", "--dir", dir)
	if code != ExitFailed || !strings.Contains(errOut, "already exists") {
		t.Errorf("second init of acme: exit %d, %s", code, errOut)
	}
}

// TestGenerateMatchesGolden: `ehecoatl generate` writes what the generator
// golden files of the examples case hold.
func TestGenerateWrites(t *testing.T) {
	out := t.TempDir()
	if code, o, e := run(t, "generate", "../examples", out); code != ExitOK {
		t.Fatalf("generate: %d %s %s", code, o, e)
	}
	b, err := os.ReadFile(filepath.Join(out, "ehecoatl-acme-web.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"DynamicUser=yes", "SourcePath=/etc/ehecoatl/tenants/acme.yaml", "LogExtraFields=EHECOATL_TENANT=acme"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("generated service lacks %q", want)
		}
	}
	if _, err := os.Readlink(filepath.Join(out, "ehecoatl.target.wants", "ehecoatl-acme-web.socket")); err != nil {
		t.Errorf("no wants link for the socket: %v", err)
	}
}

func TestRoutes(t *testing.T) {
	code, out, errOut := run(t, "routes", "../examples")
	if code != ExitOK {
		t.Fatalf("routes: %d %s", code, errOut)
	}
	if !strings.Contains(out, "acme.example.test") || !strings.Contains(out, "/run/ehecoatl/acme/web.sock") {
		t.Errorf("routes table lacks acme:\n%s", out)
	}
}
