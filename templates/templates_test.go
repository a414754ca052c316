package templates

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ehecoatl/ehecoatl/naming"
	"github.com/ehecoatl/ehecoatl/units"
)

func TestFragmentsParse(t *testing.T) {
	for _, n := range Names() {
		u, err := Parse(n)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if len(u.Sections) == 0 {
			t.Errorf("%s: no sections", n)
		}
		if _, err := Shared(n); err != nil {
			t.Errorf("Shared(%s): %v", n, err)
		}
	}
	if Bytes("nope.conf") != nil {
		t.Error("Bytes of a missing fragment")
	}
	if _, err := Parse("nope.conf"); err == nil {
		t.Error("Parse of a missing fragment: no error")
	}
}

// TestEveryOptionIsExplained: every option line is directly preceded by a
// comment line (the fragments are the documentation of the sandbox).
func TestEveryOptionIsExplained(t *testing.T) {
	for _, n := range Names() {
		sc := bufio.NewScanner(bytes.NewReader(Bytes(n)))
		prevComment := false
		line := 0
		for sc.Scan() {
			line++
			l := strings.TrimSpace(sc.Text())
			switch {
			case strings.HasPrefix(l, "#"):
				prevComment = true
				continue
			case l != "" && !strings.HasPrefix(l, "[") && !prevComment:
				t.Errorf("%s:%d: %q has no comment above it", n, line, l)
			}
			prevComment = false
		}
	}
}

// TestHardeningHasSpecOptions checks the settings the README promises (docs/DESIGN.md "File system").
func TestHardeningHasSpecOptions(t *testing.T) {
	u, err := Parse(Hardening)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"DynamicUser":             "yes",
		"ProtectSystem":           "strict",
		"PrivateTmp":              "yes",
		"NoNewPrivileges":         "yes",
		"CapabilityBoundingSet":   "",
		"AmbientCapabilities":     "",
		"SystemCallArchitectures": "native",
		"RestrictNamespaces":      "yes",
		"IPAddressDeny":           "any",
		"ProtectProc":             "invisible",
		// In place of ProtectKernelTunables= (its comment says why).
		"ReadOnlyPaths": "+/proc/sys +/sys",
	} {
		got := u.Lookup("Service", key)
		if len(got) != 1 || got[0] != want {
			t.Errorf("%s=%q, want %q", key, got, want)
		}
	}
	if got := u.Lookup("Service", "SystemCallFilter"); len(got) == 0 {
		t.Error("no SystemCallFilter=")
	}
	// Options the generator sets per app must not be in the fragment (a
	// later assignment would silently win, or lists would accumulate).
	for _, key := range []string{"ProtectHome", "PrivateNetwork", "RestrictAddressFamilies", "IPAddressAllow", "InaccessiblePaths", "ExecStart"} {
		if got := u.Lookup("Service", key); got != nil {
			t.Errorf("%s is set in the fragment: %q", key, got)
		}
	}
}

var exposureRE = regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)

// TestHardeningScore: the profile with what the generator adds for an
// activation app with egress none scores at most 1.5 in
// `systemd-analyze security --offline=true` (the exposure targets in templates/hardening.conf).
func TestHardeningScore(t *testing.T) {
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not found (install systemd): cannot score the hardening profile")
	}
	u := units.New("ehecoatl-test-web.service")
	s := u.Section("Service")
	s.AddExec("ExecStart", []string{"/bin/true"})
	s.Add("ProtectHome", "yes")
	s.Add("PrivateNetwork", "yes")
	s.AddList("RestrictAddressFamilies", []string{"AF_UNIX"})
	u.Merge(mustShared(t, Service))
	u.Merge(mustShared(t, Hardening))
	b, err := u.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), u.Name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "security", "--offline=true", "--no-pager", p).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	m := exposureRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no score in:\n%s", out)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("exposure %.1f", v)
	if v > 1.5 {
		t.Errorf("exposure %.1f > 1.5:\n%s", v, out)
	}
}

func mustShared(t *testing.T, n string) *units.Unit {
	t.Helper()
	u, err := Shared(n)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// The sandbox root the hardening profile names is the one preflight checks
// and tmpfiles.d creates (naming.SandboxRoot).
func TestSandboxRootIsNamingContract(t *testing.T) {
	u, err := Parse(Hardening)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Lookup("Service", "RootDirectory"); len(got) != 1 || got[0] != naming.SandboxRoot {
		t.Errorf("RootDirectory=%q, want %s", got, naming.SandboxRoot)
	}
	b, err := os.ReadFile("../packaging/tmpfiles.d/ehecoatl.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^d ` + regexp.QuoteMeta(naming.SandboxRoot) + ` `).Match(b) {
		t.Errorf("packaging/tmpfiles.d/ehecoatl.conf does not create %s", naming.SandboxRoot)
	}
}
