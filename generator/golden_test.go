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

// The golden tests (Quadlet style): every directory under testdata/ is a
// case with a manifest directory (tenants/, kits/) and expected/, which
// holds the exact unit files Generate must write and links.txt, the wants
// links ("DIR/NAME -> TARGET", one per line). An optional options.json
// overrides goldenOptions. The case "examples" renders ../examples.
//
//	go test ./generator/ -run TestGolden -update
//
// rewrites expected/ from the current output; review the diff by eye.
var update = flag.Bool("update", false, "rewrite testdata/*/expected from the current output")

// goldenOptions are the options of every case unless options.json says
// otherwise: the defaults of an installed host.
var goldenOptions = Options{SourceDir: "/etc/ehecoatl"}

type goldenCase struct {
	name     string
	dir      string // the case directory (expected/ lives here)
	manifest string // the manifest directory
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
		c := goldenCase{name: e.Name(), dir: filepath.Join("testdata", e.Name())}
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

func TestGolden(t *testing.T) {
	for _, c := range goldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			out := c.generate(t)
			want := filepath.Join(c.dir, "expected")
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
