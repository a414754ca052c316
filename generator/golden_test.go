package generator

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ehecoatl/ehecoatl/internal/linediff"
	"github.com/ehecoatl/ehecoatl/manifest"
)

// The generator's cases: every directory under testdata/ is a case, a
// manifest directory (tenants/, optional kits/) with an optional
// options.json that overrides goldenOptions; the case "examples" renders
// ../examples. There are two kinds:
//
//   - Most cases say what they are for in their own input, Quadlet style:
//     "## assert-..." lines in their tenants/*.yaml pin the few keys, links
//     and env values the case exists to test (the vocabulary is in
//     assert_test.go; TestAssertions checks them). A change elsewhere, such
//     as one to the shared hardening profile (templates/hardening.conf),
//     leaves them alone.
//
//   - The full-snapshot cases (snapshotCases) also hold expected/: the exact
//     unit files Generate must write, links.txt with the wants links
//     ("DIR/NAME -> TARGET", one per line) and the env files. They are
//     where a change of the whole output, the profile's included, shows
//     up, so that a reviewer sees it once per kind of unit. TestGolden
//     compares them;
//
//     go test ./generator/ -run TestGolden -update
//
//     rewrites their expected/ from the current output; review the diff by
//     eye.
//
// Every case, of either kind, also feeds the tests that need inputs only
// (TestGoldenStable, TestVerify, TestSecurityScore).
var update = flag.Bool("update", false, "rewrite testdata/*/expected of the full-snapshot cases from the current output")

// snapshotCases are the cases compared with a full snapshot (expected/):
// the examples, and one activation app and one port: app with workers,
// which together hold every line of the hardening profile, the service
// and socket templates, a bridge and template units. Every other case
// asserts what it tests instead and must not have expected/.
var snapshotCases = map[string]bool{
	"examples":           true,
	"activation_minimal": true,
	"workers_port":       true,
}

// goldenOptions are the options of every case unless options.json says
// otherwise: the defaults of an installed host.
var goldenOptions = Options{SourceDir: "/etc/ehecoatl"}

type goldenCase struct {
	name     string
	dir      string // the case directory (expected/ lives here)
	manifest string // the manifest directory
	snapshot bool   // a full-snapshot case (snapshotCases)
}

func goldenCases(t testing.TB) []goldenCase {
	t.Helper()
	ents, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	var cs []goldenCase
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), "bad_") {
			continue
		}
		c := goldenCase{name: e.Name(), dir: filepath.Join("testdata", e.Name()), snapshot: snapshotCases[e.Name()]}
		c.manifest = c.dir
		if c.name == "examples" {
			c.manifest = filepath.Join("..", "examples")
		}
		cs = append(cs, c)
	}
	if len(cs) < 20 {
		t.Fatalf("only %d golden cases", len(cs))
	}
	return cs
}

// load loads a case's manifests, failing the test on any error.
func (c goldenCase) load(t testing.TB) *manifest.Set {
	t.Helper()
	set, rep := manifest.Load(c.manifest)
	if rep.HasErrors() {
		t.Fatalf("%s: manifest errors:\n%s", c.name, rep)
	}
	return set
}

func (c goldenCase) options(t testing.TB) Options {
	t.Helper()
	o := goldenOptions
	b, err := os.ReadFile(filepath.Join(c.dir, "options.json"))
	if os.IsNotExist(err) {
		return o
	}
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		t.Fatalf("%s/options.json: %v", c.dir, err)
	}
	return o
}

// generate renders a case with its options.
func (c goldenCase) generate(t testing.TB) *Output {
	t.Helper()
	out, err := Generate(c.load(t), c.options(t))
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	return out
}

func linksText(ls []Link) string {
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(l.Dir + "/" + l.Name + " -> " + l.Target + "\n")
	}
	return b.String()
}

// TestGolden compares the full-snapshot cases with their expected/ and
// checks that no other case has one (a stale snapshot nobody compares).
func TestGolden(t *testing.T) {
	n := 0
	for _, c := range goldenCases(t) {
		want := filepath.Join(c.dir, "expected")
		if !c.snapshot {
			if _, err := os.Stat(want); err == nil {
				t.Errorf("%s: not a full-snapshot case, but has %s: delete it, or add the case to snapshotCases", c.name, want)
			}
			continue
		}
		n++
		t.Run(c.name, func(t *testing.T) {
			out := c.generate(t)
			got := map[string][]byte{"links.txt": []byte(linksText(out.Links))}
			for _, f := range out.Files {
				got[f.Name] = f.Data
			}
			// The env files apply installs beside the manifests, flattened:
			// env/acme/web.env is expected/env_acme_web.env.
			for rel, b := range out.Env {
				got[strings.ReplaceAll(rel, "/", "_")] = b
			}
			if *update {
				if err := os.RemoveAll(want); err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(want, 0o755); err != nil {
					t.Fatal(err)
				}
				for n, b := range got {
					if err := os.WriteFile(filepath.Join(want, n), b, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				return
			}
			ents, err := os.ReadDir(want)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			seen := map[string]bool{}
			for _, e := range ents {
				seen[e.Name()] = true
				b, err := os.ReadFile(filepath.Join(want, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				g, ok := got[e.Name()]
				if !ok {
					t.Errorf("%s: expected but not generated", e.Name())
					continue
				}
				if !bytes.Equal(g, b) {
					t.Errorf("%s differs:\n%s", e.Name(), linediff.Lines(string(b), string(g)))
				}
			}
			var extra []string
			for n := range got {
				if !seen[n] {
					extra = append(extra, n)
				}
			}
			sort.Strings(extra)
			for _, n := range extra {
				t.Errorf("%s: generated but not expected:\n%s", n, got[n])
			}
		})
	}
	if n != len(snapshotCases) {
		t.Errorf("%d of the %d snapshotCases are directories under testdata/", n, len(snapshotCases))
	}
}

// TestGoldenStable renders every case twice: the output must not depend on
// map order or anything else that changes between runs.
func TestGoldenStable(t *testing.T) {
	for _, c := range goldenCases(t) {
		a, b := c.generate(t), c.generate(t)
		if linksText(a.Links) != linksText(b.Links) || len(a.Files) != len(b.Files) {
			t.Fatalf("%s: two renders differ", c.name)
		}
		for i := range a.Files {
			if a.Files[i].Name != b.Files[i].Name || !bytes.Equal(a.Files[i].Data, b.Files[i].Data) {
				t.Fatalf("%s: %s differs between two renders", c.name, a.Files[i].Name)
			}
		}
	}
}
