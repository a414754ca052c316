package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/tests/harness"
	"github.com/ehecoatl/ehecoatl/tests/install"
)

// host is one booted systemd with Ehecoatl installed as the package would.
type host struct {
	t *testing.T
	m *harness.Machine
}

// installed is the package's layout plus what the tests bring: the test
// app, the examples and the test manifests where the tests expect them.
func installed() map[string]string {
	f := install.Files(repo, binDir)
	f["/usr/local/lib/ehecoatl-test/hello"] = filepath.Join(binDir, "hello")
	f["/usr/local/lib/ehecoatl-test/scrape"] = filepath.Join(binDir, "scrape")
	f["/srv/examples"] = filepath.Join(repo, "examples")
	f["/srv/testdata"] = filepath.Join(repo, "tests/testdata")
	f["/etc/default/ehecoatl-router"] = metricsOff
	return f
}

// on returns h for a subtest, so that its failures stop the subtest only.
func (h *host) on(t *testing.T) *host { return &host{t: t, m: h.m} }

func boot(t *testing.T) *host {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: boots a real systemd (run without -short)")
	}
	m := harness.BootT(t, harness.Options{Files: installed()})
	return &host{t: t, m: m}
}

// run runs argv inside and returns stdout; a non-zero exit fails the test.
func (h *host) run(argv ...string) string {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, errOut, err := h.m.Run(ctx, argv...)
	if err != nil {
		h.t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(argv, " "), err, out, errOut)
	}
	return out
}

// try runs argv inside and returns stdout, stderr and the exit code.
func (h *host) try(argv ...string) (string, string, int) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, errOut, err := h.m.Run(ctx, argv...)
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		h.t.Fatalf("%s: %v", strings.Join(argv, " "), err)
	}
	return out, errOut, code
}

func (h *host) sh(script string) string { h.t.Helper(); return h.run("/bin/sh", "-c", script) }

// prop returns one property of a unit as systemctl show prints it.
func (h *host) prop(unit, name string) string {
	h.t.Helper()
	return strings.TrimSpace(h.run("systemctl", "show", "--value", "-p", name, unit))
}

func (h *host) propInt(unit, name string) int64 {
	h.t.Helper()
	v := h.prop(unit, name)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		h.t.Fatalf("%s %s=%q: not a number", unit, name, v)
	}
	return n
}

// get fetches path from an app socket with curl, as the router would.
func (h *host) get(sock, host, path string) (int, string) {
	h.t.Helper()
	out, errOut, code := h.try("curl", "-sS", "--max-time", "30", "--unix-socket", sock,
		"-H", "Host: "+host, "-w", "\n%{http_code}", "http://"+host+path)
	if code != 0 {
		return 0, errOut
	}
	i := strings.LastIndexByte(out, '\n')
	status, _ := strconv.Atoi(strings.TrimSpace(out[i+1:]))
	return status, out[:i]
}

// waitFor polls cond until it holds or the timeout passes.
func (h *host) waitFor(what string, timeout time.Duration, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// reloads counts the daemon-reloads PID 1 logged since boot.
func (h *host) reloads() int {
	h.t.Helper()
	out, _, _ := h.try("journalctl", "-b", "_PID=1", "--no-pager", "-o", "cat", "-g", "^Reloading")
	n := 0
	for _, l := range strings.Split(out, "\n") {
		// "Reloading." is PID 1's daemon-reload; "Reloading UNIT - ..." a
		// unit's reload (the router's, ExecReload=), which is none.
		if strings.TrimSpace(l) == "Reloading." {
			n++
		}
	}
	return n
}

// statusJSON runs ehecoatl status --json and returns its apps; exit 1
// (an app failed or the router is down) is an answer too.
func (h *host) statusJSON(args ...string) []map[string]any {
	h.t.Helper()
	out, errOut, code := h.try(append([]string{"ehecoatl", "status", "--json"}, args...)...)
	var doc struct {
		Apps []map[string]any `json:"apps"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code > 1 {
		h.t.Fatalf("status --json: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	return doc.Apps
}

func (h *host) fatalf(format string, a ...any) { h.t.Helper(); h.t.Fatalf(format, a...) }

var _ = fmt.Sprint
