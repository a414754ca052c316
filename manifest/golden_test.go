package manifest

// Data-driven tests, Quadlet style: every directory under testdata/invalid
// and testdata/valid is a manifest directory. For invalid ones,
// expected.err holds the exact report; for valid ones, expected.json holds
// the Set and expected.err (optional) the warnings. Rewrite the golden
// files with
//
//	go test ./manifest/ -run 'TestInvalid|TestValid' -update
//
// and review every change by eye: the golden files are the specification.

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func caseDirs(t *testing.T, root string) []string {
	t.Helper()
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range ents {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(root, e.Name()))
		}
	}
	if len(dirs) == 0 {
		t.Fatalf("no cases under %s", root)
	}
	return dirs
}

// golden compares got with the file, or rewrites it under -update. An
// empty got means the file must not exist.
func golden(t *testing.T, file string, got []byte) {
	t.Helper()
	if *update {
		if len(got) == 0 {
			if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
			return
		}
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update and review the diff)\n--- got:\n%s\n--- want:\n%s", file, got, want)
	}
}

func TestInvalid(t *testing.T) {
	dirs := caseDirs(t, filepath.Join("testdata", "invalid"))
	if len(dirs) < 28 {
		t.Errorf("only %d invalid cases; the suite promises at least 28", len(dirs))
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			set, rep := LoadFS(os.DirFS(dir), dir)
			if set != nil || !rep.HasErrors() {
				t.Errorf("loaded without errors; an invalid case must fail:\n%s", rep)
			}
			golden(t, filepath.Join(dir, "expected.err"), []byte(rep.String()))
			// The same directory through Load (the os path) gives the
			// same report.
			_, rep2 := Load(dir)
			if rep.String() != rep2.String() {
				t.Errorf("Load and LoadFS differ:\n%s\n---\n%s", rep2, rep)
			}
		})
	}
}

func TestValid(t *testing.T) {
	for _, dir := range caseDirs(t, filepath.Join("testdata", "valid")) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			set, rep := Load(dir)
			if rep.HasErrors() || set == nil {
				t.Fatalf("valid case has errors:\n%s", rep)
			}
			golden(t, filepath.Join(dir, "expected.err"), []byte(rep.String()))
			checkSet(t, set)
			js, err := json.MarshalIndent(set, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join(dir, "expected.json"), append(js, '\n'))
		})
	}
}
