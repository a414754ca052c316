package apply

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ehecoatl/ehecoatl/generator"
	"github.com/ehecoatl/ehecoatl/layout"
	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/rendered"
)

func loadSet(t *testing.T, dir string) *manifest.Set {
	t.Helper()
	set, rep := manifest.Load(dir)
	if rep.HasErrors() {
		t.Fatal(rep.String())
	}
	return set
}

// renderSet renders a loaded set as apply does, for the env files Install
// takes from the rendering.
func renderSet(t *testing.T, set *manifest.Set) *rendered.Output {
	t.Helper()
	out, err := generator.Generate(set, generator.Options{}.ForHost())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestInstall: the set becomes visible under etc through symlinks,
// idempotently, and a plain directory from an older install is moved
// aside, not deleted.
func TestInstall(t *testing.T) {
	etc := filepath.Join(t.TempDir(), "etc", "ehecoatl")
	if err := os.MkdirAll(filepath.Join(etc, "tenants"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(etc, "tenants", "old.yaml"), []byte("tenant: old\n"), 0o644)
	set := loadSet(t, "../examples")
	changed, err := Install(etc, set, renderSet(t, set))
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
	// Nothing installed is readable by other users: the manifests carry
	// the tenants' env. checkPrivate has the details.
	checkPrivate(t, etc)
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
	if changed, err := Install(etc, set, renderSet(t, set)); err != nil || changed {
		t.Errorf("second install: changed=%v err=%v, want no change", changed, err)
	}
}

// expectedGID is the group the installed manifests must belong to: the
// router's when this machine has it, else root's.
func expectedGID(t *testing.T) int {
	t.Helper()
	g, err := user.LookupGroup(layout.RouterGroup)
	if err != nil {
		return 0
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		t.Fatal(err)
	}
	return gid
}

// checkPrivate: under etc's generations, manifests are 0640 in 0750
// directories, owned by root and the router's group; env files are 0600
// in 0700 directories, root's only. Nothing is readable by others.
func checkPrivate(t *testing.T, etc string) {
	t.Helper()
	gid := expectedGID(t)
	root := os.Geteuid() == 0
	gens := filepath.Join(etc, generationsDir)
	n := 0
	filepath.WalkDir(gens, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			t.Errorf("%s: %v", p, err)
			return nil
		}
		rel, _ := filepath.Rel(gens, p)
		if strings.HasPrefix(rel, "pre-ehecoatl-") {
			return fs.SkipDir
		}
		fi, err := os.Lstat(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			return nil
		}
		st := fi.Sys().(*syscall.Stat_t)
		env := strings.Contains("/"+filepath.ToSlash(rel)+"/", "/env/")
		wantMode, wantGID := os.FileMode(0o640), gid
		switch {
		case e.IsDir() && env:
			wantMode, wantGID = 0o700, 0
		case e.IsDir():
			wantMode = 0o750
		case env:
			wantMode, wantGID = 0o600, 0
		}
		n++
		if fi.Mode().Perm() != wantMode {
			t.Errorf("%s: mode %v, want %v", rel, fi.Mode().Perm(), wantMode)
		}
		if root && (st.Uid != 0 || int(st.Gid) != wantGID) {
			t.Errorf("%s: owner %d:%d, want 0:%d", rel, st.Uid, st.Gid, wantGID)
		}
		return nil
	})
	if n < 4 {
		t.Errorf("only %d paths below %s", n, gens)
	}
}

// TestInstallFixesOlderModes: an install made before the manifests were
// private (0644 files, 0755 directories) is tightened by the next install,
// whether or not the set changed, in the current generation and in the
// previous one it keeps.
func TestInstallFixesOlderModes(t *testing.T) {
	etc := filepath.Join(t.TempDir(), "etc", "ehecoatl")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	older := loadSet(t, "../examples")
	if _, err := Install(etc, older, renderSet(t, older)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../examples")); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "tenants", "acme.yaml")
	b, _ := os.ReadFile(f)
	os.WriteFile(f, append(b, "# changed\n"...), 0o644)
	newer := loadSet(t, dir)
	if _, err := Install(etc, newer, renderSet(t, newer)); err != nil {
		t.Fatal(err)
	}
	loosen := func() {
		filepath.WalkDir(filepath.Join(etc, generationsDir), func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				os.Chmod(p, 0o755)
			} else if err == nil {
				os.Chmod(p, 0o644)
			}
			return err
		})
	}
	loosen()
	if changed, err := Install(etc, newer, renderSet(t, newer)); err != nil || changed {
		t.Fatalf("re-install: changed=%v err=%v, want no change", changed, err)
	}
	gens, _ := filepath.Glob(filepath.Join(etc, generationsDir, "*"))
	if len(gens) != 2 {
		t.Fatalf("generations %v, want the current and one previous", gens)
	}
	checkPrivate(t, etc)
}

// What is installed is what was validated: a manifest (or kit) edited after
// the set was loaded, here into one that would bind the host's root into
// the sandbox, is not installed (issue: apply re-read the files, so an edit
// between validation and install went in unvalidated and the boot-time
// generator rendered it).
func TestInstallWritesValidatedBytes(t *testing.T) {
	src := t.TempDir()
	for _, sub := range []string{"tenants", "kits"} {
		if err := os.MkdirAll(filepath.Join(src, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tenant := "tenant: acme\napps:\n  web:\n    kit: site\n    domains: [acme.example.test]\n"
	kit := "kit: site\ncommand: [/bin/true]\nlisten: activation\n"
	os.WriteFile(filepath.Join(src, "tenants", "acme.yaml"), []byte(tenant), 0o644)
	os.WriteFile(filepath.Join(src, "kits", "site.yaml"), []byte(kit), 0o644)
	set := loadSet(t, src)

	os.WriteFile(filepath.Join(src, "tenants", "acme.yaml"), []byte(tenant+"    read_only: [/proc/1/root]\n"), 0o644)
	os.WriteFile(filepath.Join(src, "kits", "site.yaml"), []byte(kit+"egress: [0.0.0.0/0]\n"), 0o644)
	etc := filepath.Join(t.TempDir(), "etc", "ehecoatl")
	if _, err := Install(etc, set, renderSet(t, set)); err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]string{"tenants/acme.yaml": tenant, "kits/site.yaml": kit} {
		got, err := os.ReadFile(filepath.Join(etc, rel))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s installed as\n%s\nwant the validated\n%s", rel, got, want)
		}
	}
}

// The env files are rendered once, by the translator: the state plan
// records hashes the very bytes Install writes, and Install writes no env
// file the rendering does not hold.
func TestEnvRenderedOnce(t *testing.T) {
	set, out, want, err := Desired("../examples", generator.Options{}.ForHost())
	if err != nil {
		t.Fatal(err)
	}
	etc := filepath.Join(t.TempDir(), "etc", "ehecoatl")
	if _, err := Install(etc, set, out); err != nil {
		t.Fatal(err)
	}
	installed, err := installedFiles(etc)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rel, b := range installed {
		if !strings.HasPrefix(rel, "env/") {
			continue
		}
		n++
		if !bytes.Equal(out.Env[rel], b) {
			t.Errorf("%s installed as %q, rendered as %q", rel, b, out.Env[rel])
		}
		tn, an, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(rel, "env/"), ".env"), "/")
		sum := sha256.Sum256(b)
		if as := want.Tenants[tn].Apps[an]; as == nil || as.Env != hex.EncodeToString(sum[:12]) {
			t.Errorf("%s: plan's state hashes other bytes than the installed ones (%+v)", rel, as)
		}
	}
	if n == 0 || n != len(out.Env) {
		t.Errorf("installed %d env files, rendered %d", n, len(out.Env))
	}
}

// TestInstallLinksUnchangedFiles: a new generation hard-links the files
// the current one holds with the same bytes and writes only what changed,
// so a one-tenant change writes one manifest and its env files, not every
// tenant's again. The old generation keeps its own bytes.
func TestInstallLinksUnchangedFiles(t *testing.T) {
	etc := filepath.Join(t.TempDir(), "etc", "ehecoatl")
	dir := copyDir(t, "../examples")
	set := loadSet(t, dir)
	if _, err := Install(etc, set, renderSet(t, set)); err != nil {
		t.Fatal(err)
	}
	old, err := filepath.EvalSymlinks(filepath.Join(etc, currentLink))
	if err != nil {
		t.Fatal(err)
	}
	edit(t, filepath.Join(dir, "tenants/acme.yaml"), "GREETING: 'Hello, 100% \"quoted\" $world'", "GREETING: changed")
	set = loadSet(t, dir)
	if changed, err := Install(etc, set, renderSet(t, set)); err != nil || !changed {
		t.Fatalf("second install: %v %v", changed, err)
	}
	cur, err := filepath.EvalSymlinks(filepath.Join(etc, currentLink))
	if err != nil || cur == old {
		t.Fatalf("current %s (was %s): %v", cur, old, err)
	}
	linked, written := 0, 0
	for _, rel := range []string{"tenants/acme.yaml", "env/acme/web.env", "tenants/globex.yaml", "kits/static.yaml", "env/globex/www.env"} {
		a, errA := os.Stat(filepath.Join(old, rel))
		b, errB := os.Stat(filepath.Join(cur, rel))
		if errA != nil || errB != nil {
			t.Fatalf("%s: %v %v", rel, errA, errB)
		}
		same := os.SameFile(a, b)
		if changed := strings.Contains(rel, "acme"); same == changed {
			t.Errorf("%s: same inode in both generations %v, want %v", rel, same, !changed)
		}
		if same {
			linked++
		} else {
			written++
		}
	}
	if got, _ := os.ReadFile(filepath.Join(old, "tenants/acme.yaml")); strings.Contains(string(got), "GREETING: changed") {
		t.Errorf("the old generation's acme.yaml changed")
	}
	t.Logf("%d files linked, %d written", linked, written)
}
