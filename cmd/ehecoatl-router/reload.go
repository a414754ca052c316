package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ehecoatl/ehecoatl/atomicfile"
)

// systemd 252 has no Type=notify-reload: a reload job ends when ExecReload=
// exits, so `ExecReload=kill -HUP` would let `ehecoatl apply` go on (and a
// client fetch a new route) before the router has read the new table. The
// router therefore counts its table loads in $RUNTIME_DIRECTORY/reloads,
// and ExecReload=ehecoatl-router --reload $MAINPID signals it and waits for
// the count to move.

const reloadsFile = "reloads"

// recordReload writes "<n> ok" or "<n> failed: <err>" atomically; without
// a runtime directory (tests, --listen) it does nothing.
func recordReload(n int, err error) {
	dir := os.Getenv("RUNTIME_DIRECTORY")
	if dir == "" {
		return
	}
	line := fmt.Sprintf("%d ok\n", n)
	if err != nil {
		line = fmt.Sprintf("%d failed: %s\n", n, strings.ReplaceAll(err.Error(), "\n", " "))
	}
	atomicfile.Write(filepath.Join(dir, reloadsFile), []byte(line), 0o644, -1)
}

func readReloads(dir string) (int, string) {
	b, _ := os.ReadFile(filepath.Join(dir, reloadsFile))
	f := strings.SplitN(strings.TrimSpace(string(b)), " ", 2)
	n, _ := strconv.Atoi(f[0])
	if len(f) < 2 {
		return n, ""
	}
	return n, f[1]
}

// signalReload is `ehecoatl-router --reload PID`.
func signalReload(pidArg string, timeout time.Duration) int {
	pid, err := strconv.Atoi(pidArg)
	if err != nil || pid <= 1 {
		fmt.Fprintf(os.Stderr, "ehecoatl-router: --reload needs the router's PID, not %q\n", pidArg)
		return 2
	}
	dir := os.Getenv("RUNTIME_DIRECTORY")
	before, _ := readReloads(dir)
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		fmt.Fprintf(os.Stderr, "ehecoatl-router: reload: %v\n", err)
		return 1
	}
	if dir == "" {
		return 0
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if n, status := readReloads(dir); n > before {
			if status != "ok" {
				fmt.Fprintf(os.Stderr, "ehecoatl-router: reload %s; the previous table stays\n", status)
				return 1
			}
			return 0
		}
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Fprintf(os.Stderr, "ehecoatl-router: reload: no answer from PID %d within %s\n", pid, timeout)
	return 1
}
