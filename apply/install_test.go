package apply

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ehecoatl/ehecoatl/manifest"
)

func loadSet(t *testing.T, dir string) *manifest.Set {
	t.Helper()
	set, rep := manifest.Load(dir)
	if rep.HasErrors() {
		t.Fatal(rep.String())
	}
	return set
}

// TestInstall: the set becomes visible under etc through symlinks, readable
// by others (the router runs as its own user), idempotently, and a plain
// directory from an older install is moved aside, not deleted.
func TestInstall(t *testing.T) {
	etc := filepath.Join(t.TempDir(), "etc", "ehecoatl")
	if err := os.MkdirAll(filepath.Join(etc, "tenants"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(etc, "tenants", "old.yaml"), []byte("tenant: old\n"), 0o644)
	set := loadSet(t, "../examples")
	changed, err := Install(etc, set)
	if err != nil || !changed {
		t.Fatalf("first install: changed=%v err=%v", changed, err)
	}
	for _, rel := range []string{"tenants/acme.yaml", "kits/static.yaml"} {
		want, _ := os.ReadFile(filepath.Join("../examples", rel))
		got, err := os.ReadFile(filepath.Join(etc, rel))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s not installed: %v", rel, err)
		}
	}
	if _, err := os.Stat(filepath.Join(etc, "tenants", "old.yaml")); err == nil {
		t.Errorf("old tenant still visible after install")
	}
	aside, _ := filepath.Glob(filepath.Join(etc, generationsDir, "pre-ehecoatl-tenants-*", "old.yaml"))
	if len(aside) != 1 {
		t.Errorf("the older install's tenants dir was not kept aside")
	}
	// Every directory on the way to a manifest is world-readable.
	for p := filepath.Join(etc, "tenants", "acme.yaml"); p != etc; p = filepath.Dir(p) {
		real, _ := filepath.EvalSymlinks(p)
		fi, err := os.Stat(real)
		if err != nil || fi.Mode().Perm()&0o005 != 0o005 && fi.IsDir() || fi.Mode().Perm()&0o004 == 0 {
			t.Errorf("%s (%s) mode %v: not readable by others", p, real, fi.Mode())
		}
	}
	// The env of an app is a root-only file beside the manifests.
	env := filepath.Join(etc, "env", "acme", "web.env")
	b, err := os.ReadFile(env)
	if err != nil || !strings.Contains(string(b), `GREETING="Hello, 100% \"quoted\" \$world"`) {
		t.Errorf("env file %s: %v\n%s", env, err, b)
	}
	if fi, err := os.Stat(env); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("env file mode: %v %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Join(etc, "env")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("env dir mode: %v %v", fi.Mode(), err)
	}
	if changed, err := Install(etc, set); err != nil || changed {
		t.Errorf("second install: changed=%v err=%v, want no change", changed, err)
	}
}
