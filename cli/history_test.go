package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHistoryAndRollback: the listing, the refusals and a dry run over a
// temp root whose generations are laid out as apply lays them out.
func TestHistoryAndRollback(t *testing.T) {
	root := t.TempDir()
	for _, tc := range []struct {
		args     []string
		code     int
		out, err string
	}{
		{[]string{"history"}, ExitOK, "no generations: nothing was applied yet", ""},
		{[]string{"history", "--json"}, ExitOK, "[]", ""},
		{[]string{"history", "extra"}, ExitUsage, "", "takes no arguments"},
		{[]string{"rollback"}, ExitFailed, "", "rollback: history: no generations are kept"},
		{[]string{"rollback", "1", "2"}, ExitUsage, "", "at most one GEN"},
	} {
		code, out, errOut := run(t, append([]string{"--root", root}, tc.args...)...)
		if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errOut, tc.err) {
			t.Errorf("%v: exit %d (want %d)\nstdout: %s\nstderr: %s\nwant %q / %q", tc.args, code, tc.code, out, errOut, tc.out, tc.err)
		}
	}

	// Two generations: the examples (previous) and the examples without
	// initech (current).
	etc := filepath.Join(root, "etc", "ehecoatl")
	gens := filepath.Join(etc, ".generations")
	for id, drop := range map[string]string{"aaaa000000": "", "bbbb000000": "initech.yaml"} {
		if err := os.CopyFS(filepath.Join(gens, id), os.DirFS("../examples")); err != nil {
			t.Fatal(err)
		}
		if drop != "" {
			os.Remove(filepath.Join(gens, id, "tenants", drop))
		}
	}
	for link, target := range map[string]string{"current": ".generations/bbbb000000", "tenants": "current/tenants", "kits": "current/kits"} {
		if err := os.Symlink(target, filepath.Join(etc, link)); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut := run(t, "--root", root, "history")
	if code != ExitOK || !strings.Contains(out, "* 0  bbbb000000") || !strings.Contains(out, "  1  aaaa000000") {
		t.Errorf("history: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run(t, "--root", root, "rollback", "", completeFlag)
	if code != ExitOK || strings.TrimSpace(out) != "aaaa000000" {
		t.Errorf("completion of rollback's GEN: %q %s, want the previous generation only", out, errOut)
	}
	code, out, errOut = run(t, "--root", root, "rollback", "--dry-run")
	if code != ExitOK || !strings.Contains(out, "rollback to aaaa000000 (generation 1") || !strings.Contains(out, "+ tenant initech") {
		t.Errorf("rollback --dry-run: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run(t, "--root", root, "rollback", "bbbb")
	if code != ExitOK || !strings.Contains(out, "bbbb000000 is the current generation: nothing to roll back") {
		t.Errorf("rollback to the current one: exit %d\n%s%s", code, out, errOut)
	}
	if err := os.MkdirAll(filepath.Join(root, "etc", "default"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "etc", "default", "ehecoatl"), []byte("EHECOATL_KEEP_GENERATIONS=-1\n"), 0o644)
	for _, args := range [][]string{{"rollback", "--dry-run"}, {"apply", "--dry-run", "../examples"}} {
		code, out, errOut = run(t, append([]string{"--root", root}, args...)...)
		if code != ExitFailed || !strings.Contains(errOut, "EHECOATL_KEEP_GENERATIONS") {
			t.Errorf("%v with a bad setting: exit %d\n%s%s", args, code, out, errOut)
		}
	}
}
