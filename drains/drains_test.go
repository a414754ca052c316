package drains

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestSaveLoad(t *testing.T) {
	p := filepath.Join(t.TempDir(), ".draining")
	if m, err := Load(p); err != nil || len(m) != 0 {
		t.Fatalf("missing file: %v %v", m, err)
	}
	want := map[string]bool{"acme/web@2.sock": true, "acme/api.sock": true}
	if err := Save(p, want); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "acme/api.sock\nacme/web@2.sock\n" {
		t.Errorf("file %q", b)
	}
	if m, err := Load(p); err != nil || !reflect.DeepEqual(m, want) {
		t.Errorf("load %v %v", m, err)
	}
	if err := Save(p, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("an empty record left the file: %v", err)
	}
}
