// Package promtool finds and runs Prometheus's promtool, from Debian's
// prometheus package, for the tests that hold the dashboard's queries and
// a real scrape to Prometheus's own parsers. `make promtool` unpacks it
// into .cache/tools/ (without installing the package: no Prometheus
// service on the host); `make test` does it first. Imported only by
// _test.go files.
package promtool

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Path returns $EHECOATL_PROMTOOL, else repo/.cache/tools/promtool, else
// promtool from $PATH.
func Path(repo string) (string, error) {
	if p := os.Getenv("EHECOATL_PROMTOOL"); p != "" {
		return p, nil
	}
	if p := filepath.Join(repo, ".cache", "tools", "promtool"); isExec(p) {
		return p, nil
	}
	if p, err := exec.LookPath("promtool"); err == nil {
		return p, nil
	}
	return "", errors.New("no promtool: run `make promtool` (unpacks Debian's prometheus package into .cache/tools/)")
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// Run runs promtool with args and stdin, and returns its stdout and
// stderr together with its exit code (-1 when it did not run).
func Run(path string, stdin []byte, args ...string) (out string, code int, err error) {
	cmd := exec.Command(path, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return b.String(), 0, nil
	case errors.As(err, &ee):
		return b.String(), ee.ExitCode(), nil
	default:
		return b.String(), -1, fmt.Errorf("%s: %w", path, err)
	}
}
