// Package tests holds the integration tests: each boots a real systemd 252
// (tests/harness), puts the freshly built binaries inside and checks what an
// operator would check — systemctl, journalctl, curl, a process's uid.
package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"
)

// binDir holds the binaries built once for all tests.
var binDir string

// repo is the repository root.
var repo string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	_, file, _, _ := runtime.Caller(0)
	repo = filepath.Dir(filepath.Dir(file))
	dir, err := os.MkdirTemp("", "ehecoatl-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	for _, b := range []string{"cmd/ehecoatl", "cmd/ehecoatl-router", "cmd/ehecoatl-generator", "cmd/ehecoatl-exec", "tests/apps/hello", "tests/apps/scrape"} {
		cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, filepath.Base(b)), "./"+b)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", b, err, out)
			return 1
		}
	}
	if err := writeMetricsOff(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// metricsOff is the package's /etc/default/ehecoatl-router with
// EHECOATL_METRICS_LISTEN=off, which every machine gets unless its test
// asks for the metrics socket (metricsOn): guests share the host's network
// namespace, so 127.0.0.1:9808 is one port for all of them (and the
// host's), and a socket that cannot bind it fails the boot.
var metricsOff string

func writeMetricsOff(dir string) error {
	b, err := os.ReadFile(filepath.Join(repo, "packaging/default/ehecoatl-router"))
	if err != nil {
		return err
	}
	re := regexp.MustCompile(`(?m)^EHECOATL_METRICS_LISTEN=.*$`)
	if !re.Match(b) {
		return fmt.Errorf("packaging/default/ehecoatl-router sets no EHECOATL_METRICS_LISTEN")
	}
	metricsOff = filepath.Join(dir, "default-ehecoatl-router")
	return os.WriteFile(metricsOff, re.ReplaceAll(b, []byte(`EHECOATL_METRICS_LISTEN="off"`)), 0o644)
}
