package generator

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/ehecoatl/ehecoatl/manifest"
)

// These tests load the generated units with systemd's own parser
// (systemd-analyze, which works without a running systemd).

// maxExposure bounds the exposure score of services with egress none
// (README.md quotes what they score).
const maxExposure = 1.5

func needAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not found (install systemd): cannot check generated units with systemd's parser")
	}
	return p
}

// writeCase renders a case for systemd-analyze: the bridge binary must
// exist for verify, so Bin is an executable of this host (so are the
// cases' commands); every other option stays the case's.
func writeCase(t *testing.T, c goldenCase) (string, *Output) {
	t.Helper()
	opts := c.options(t)
	opts.Bin = "/bin/true"
	out, err := Generate(c.load(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WriteDir(out, dir); err != nil {
		t.Fatal(err)
	}
	return dir, out
}

// loadable returns what to pass to systemd-analyze for each file: the path
// of a plain unit, the name of instance 1 of a template (resolved through
// SYSTEMD_UNIT_PATH, so that %i is expanded as systemd does).
func loadable(dir, name string) string {
	if i := strings.Index(name, "@."); i >= 0 {
		return name[:i+1] + "1" + name[i+1:]
	}
	return filepath.Join(dir, name)
}

func analyze(t *testing.T, bin, dir string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	// The case's own directory first (slices, sockets and templates the
	// units refer to), the package's units (ehecoatl-firewall.service),
	// then systemd's default path (the trailing ":").
	pkg, err := filepath.Abs("../packaging/systemd")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+dir+":"+pkg+":", "SYSTEMD_LOG_COLOR=0", "SYSTEMD_PAGER=")
	cmd.Dir = dir
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// TestVerify runs `systemd-analyze verify` over every unit of every case.
// verify exits 0 on unknown keys and bad values (it only warns), so the
// test requires an empty stderr too.
func TestVerify(t *testing.T) {
	bin := needAnalyze(t)
	for _, c := range goldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			dir, out := writeCase(t, c)
			args := []string{"verify", "--man=no"}
			for _, f := range out.Files {
				args = append(args, loadable(dir, f.Name))
			}
			stdout, stderr, err := analyze(t, bin, dir, args...)
			if err != nil || stderr != "" || stdout != "" {
				t.Errorf("systemd-analyze verify: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
			}
		})
	}
}

// TestVerifyCatchesBadUnits proves that TestVerify can fail: a unit with a
// value systemd rejects produces a warning on stderr.
func TestVerifyCatchesBadUnits(t *testing.T) {
	bin := needAnalyze(t)
	dir := t.TempDir()
	bad := "[Slice]\nCPUQuota=150%%\n"
	if err := os.WriteFile(filepath.Join(dir, "ehecoatl-bad.slice"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, _ := analyze(t, bin, dir, "verify", "--man=no", filepath.Join(dir, "ehecoatl-bad.slice"))
	if !strings.Contains(stderr, "CPU quota") {
		t.Fatalf("verify did not warn about an invalid CPUQuota; stderr: %q", stderr)
	}
}

var exposureRE = regexp.MustCompile(`Overall exposure level for (\S+): ([0-9]+\.[0-9]+)`)

type score struct {
	unit   string
	value  float64
	egress string // "none" or "list"
}

// TestSecurityScore runs `systemd-analyze security --offline=true` on every
// generated service of every case: services with egress none must score at
// most maxExposure; the others are reported.
func TestSecurityScore(t *testing.T) {
	bin := needAnalyze(t)
	var table []score
	for _, c := range goldenCases(t) {
		dir, out := writeCase(t, c)
		set := c.load(t)
		egress := map[string]string{} // loadable name -> none|list
		var args []string
		for _, tn := range set.Tenants {
			for _, a := range tn.Apps {
				kind := "none"
				if len(a.Egress) > 0 {
					kind = "list"
				}
				for _, f := range out.Files {
					if strings.HasSuffix(f.Name, ".service") && belongsTo(f.Name, a) {
						n := loadable(dir, f.Name)
						egress[filepath.Base(n)] = kind
						args = append(args, n)
					}
				}
			}
		}
		if len(args) == 0 {
			continue
		}
		stdout, stderr, err := analyze(t, bin, dir, append([]string{"security", "--offline=true", "--no-pager"}, args...)...)
		if err != nil {
			t.Fatalf("%s: systemd-analyze security: %v\n%s", c.name, err, stderr)
		}
		found := exposureRE.FindAllStringSubmatch(stdout, -1)
		if len(found) != len(args) {
			t.Fatalf("%s: %d scores for %d services:\n%s\n%s", c.name, len(found), len(args), stdout, stderr)
		}
		for _, m := range found {
			v, _ := strconv.ParseFloat(m[2], 64)
			// systemd prints a template instance as "x@i.service" in
			// offline mode; map back to the instance we asked for.
			unit := strings.Replace(m[1], "@i.", "@1.", 1)
			kind, ok := egress[unit]
			if !ok {
				t.Fatalf("%s: score for unexpected unit %s", c.name, m[1])
			}
			table = append(table, score{unit: c.name + "/" + unit, value: v, egress: kind})
			if kind == "none" && v > maxExposure {
				t.Errorf("%s: %s exposure %.1f > %.1f", c.name, unit, v, maxExposure)
			}
		}
	}
	sort.Slice(table, func(i, j int) bool { return table[i].unit < table[j].unit })
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-62s %-6s %s\n", "case/service", "egress", "exposure")
	for _, s := range table {
		fmt.Fprintf(&b, "%-62s %-6s %.1f\n", s.unit, s.egress, s.value)
	}
	t.Log(b.String())
}

// belongsTo reports whether a unit file is one of the app's.
func belongsTo(file string, a *manifest.App) bool {
	for _, f := range a.Names().Units("").Files {
		if f == file {
			return true
		}
	}
	return false
}
