package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "record.json")
	for _, tc := range []struct {
		data string
		perm os.FileMode
	}{{"one\n", 0o600}, {"two, longer\n", 0o644}} {
		if err := Write(path, []byte(tc.data), tc.perm, -1); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil || string(b) != tc.data {
			t.Fatalf("read %q %v, want %q", b, err, tc.data)
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != tc.perm {
			t.Errorf("mode %v, want %v", fi.Mode().Perm(), tc.perm)
		}
	}
	// No temporary file is left beside it.
	if es, _ := os.ReadDir(filepath.Dir(path)); len(es) != 1 {
		t.Errorf("directory holds %d entries, want 1", len(es))
	}
	// A directory in the way: the error is returned, the old file stays.
	bad := filepath.Join(dir, "isdir")
	os.MkdirAll(filepath.Join(bad, "x"), 0o755)
	if err := Write(bad, []byte("x"), 0o644, -1); err == nil {
		t.Error("replacing a non-empty directory succeeded")
	}
	if err := Write(filepath.Join(dir, "gone", "x"), []byte("x"), 0o644, -1); err == nil {
		t.Error("a write into a missing directory succeeded")
	}
	if es, _ := os.ReadDir(dir); len(es) != 2 {
		t.Errorf("a failed write left a temporary file: %d entries", len(es))
	}
}
