package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestRouterUnitsAnalyze checks the packaged router units as systemd reads
// them: `systemd-analyze verify` with empty output, and an exposure of at
// most 2.0 in `systemd-analyze security` (issue: the router runs
// unprivileged and sandboxed).
func TestRouterUnitsAnalyze(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed (apt-get install -y systemd)")
	}
	dir := t.TempDir()
	for _, u := range []string{"ehecoatl-router.socket", "ehecoatl-router.service"} {
		b, err := os.ReadFile(filepath.Join(repo, "packaging/systemd", u))
		if err != nil {
			t.Fatal(err)
		}
		// verify requires the executables to exist: point them at the
		// binaries built for this test run.
		s := strings.ReplaceAll(string(b), "/usr/bin/ehecoatl-router", filepath.Join(binDir, "ehecoatl-router"))
		if err := os.WriteFile(filepath.Join(dir, u), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("systemd-analyze", "verify", "--man=no", filepath.Join(dir, "ehecoatl-router.socket"), filepath.Join(dir, "ehecoatl-router.service"))
	cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+dir+":")
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	checkExposure(t, filepath.Join(dir, "ehecoatl-router.service"), 2.0)
}

// checkExposure fails the test when `systemd-analyze security` rates the
// unit file above max.
func checkExposure(t *testing.T, unit string, max float64) {
	t.Helper()
	out, err := exec.Command("systemd-analyze", "security", "--offline=true", "--no-pager", unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	name := filepath.Base(unit)
	m := regexp.MustCompile(`Overall exposure level for ` + regexp.QuoteMeta(name) + `: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("%s exposure: %.1f", name, score)
	if score > max {
		t.Errorf("%s exposure %.1f, want at most %.1f", name, score, max)
	}
}

// TestFirewallUnitAnalyze: the packaged ehecoatl-firewall.service as systemd
// reads it (verify with empty output) and as sandboxed as a root unit that
// must change the host's firewall can be: exposure at most 2.5 (it keeps
// CAP_NET_ADMIN and the host's network namespace, which are its job).
func TestFirewallUnitAnalyze(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed (apt-get install -y systemd)")
	}
	if _, err := os.Stat("/usr/sbin/nft"); err != nil {
		t.Skip("nft not installed (apt-get install -y nftables; make deps does)")
	}
	u := filepath.Join(repo, "packaging/systemd/ehecoatl-firewall.service")
	cmd := exec.Command("systemd-analyze", "verify", "--man=no", u)
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	checkExposure(t, u, 2.5)
}
