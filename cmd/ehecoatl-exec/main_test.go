package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/appexec"
)

// launcher builds the launcher once per test binary.
func launcher(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ehecoatl-exec")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// through runs argv through the launcher with the extra environment env.
func through(bin string, argv []string, env ...string) *exec.Cmd {
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.Env = append(cmd.Env, env...)
	for k, v := range appexec.Vars(argv) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

func TestLauncher(t *testing.T) {
	bin := launcher(t)
	t.Run("the app gets its argv verbatim, the rest of the environment and the launcher's PID", func(t *testing.T) {
		// sh prints its PID, its arguments one per line, then its
		// environment's EHECOATL_ARGV_ and KEEP entries.
		script := `echo "pid $$"; for a in "$0" "$@"; do echo "arg [$a]"; done; env | grep -E '^(EHECOATL_ARGV_|KEEP=)' | sed 's/^/env /'`
		words := []string{"word", "two words", "", `say "hi" \ $HOME %i`, "日本語"}
		cmd := through(bin, append([]string{"/bin/sh", "-c", script}, words...), "KEEP=me")
		var out strings.Builder
		cmd.Stdout = &out
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		want := "pid " + strconv.Itoa(cmd.Process.Pid) + "\n"
		for _, w := range words {
			want += "arg [" + w + "]\n"
		}
		want += "env KEEP=me\n"
		if out.String() != want {
			t.Errorf("got\n%s\nwant\n%s", out.String(), want)
		}
	})
	t.Run("a missing program fails as systemd's exec does, naming it", func(t *testing.T) {
		cmd := through(bin, []string{"/nonexistent/app", "--port", "8080"})
		var errOut strings.Builder
		cmd.Stderr = &errOut
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 203 {
			t.Fatalf("exit: %v, want status 203", err)
		}
		if got := errOut.String(); got != "ehecoatl-exec: cannot execute /nonexistent/app: no such file or directory\n" {
			t.Errorf("stderr %q", got)
		}
	})
	t.Run("no command", func(t *testing.T) {
		cmd := exec.Command(bin)
		cmd.Env = []string{"A=1"}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 203 || !strings.Contains(string(out), "no EHECOATL_ARGV_0") {
			t.Fatalf("%v: %s", err, out)
		}
	})
	t.Run("the app's open-file limit is the one systemd set", func(t *testing.T) {
		// Go raises its own soft RLIMIT_NOFILE at start-up and lowers it
		// again before an exec; the app must not inherit the raised one.
		cmd := exec.Command("/bin/sh", "-c", `ulimit -Sn 321; exec "$0"`, bin)
		cmd.Env = through(bin, []string{"/bin/sh", "-c", "ulimit -Sn"}).Env
		out, err := cmd.Output()
		if err != nil || strings.TrimSpace(string(out)) != "321" {
			t.Fatalf("soft limit through the launcher: %q %v, want 321", out, err)
		}
	})
}

// TestLauncherCost measures what the launcher adds to an app's start: the
// p50 of many starts of /bin/true through it, against /bin/true alone and
// against /usr/bin/env /bin/true (a small C program that only execs its
// argument: about the least any launcher can add), interleaved. Issue 15
// asks for under 1 ms; on the 2-CPU VM of issue 15 one more exec alone
// costs about that (env: 1.0-1.7 ms), and the Go runtime's start-up about
// as much again, so the test logs the three and fails only past 5 ms, the
// cost of a launcher that grew heavy imports (docs/DESIGN.md "The app's
// command").
func TestLauncherCost(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: timing")
	}
	bin := launcher(t)
	const runs = 400
	var direct, launched, env []time.Duration
	for i := 0; i < runs; i++ {
		for _, c := range []struct {
			cmd *exec.Cmd
			to  *[]time.Duration
		}{
			{exec.Command("/bin/true"), &direct},
			{through(bin, []string{"/bin/true"}), &launched},
			{exec.Command("/usr/bin/env", "/bin/true"), &env},
		} {
			c.cmd.Env = append(c.cmd.Env, "PATH=/usr/bin:/bin")
			t0 := time.Now()
			if err := c.cmd.Run(); err != nil {
				t.Fatal(err)
			}
			*c.to = append(*c.to, time.Since(t0))
		}
	}
	p := func(ds []time.Duration, q float64) time.Duration {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[int(q*float64(len(ds)-1))]
	}
	added, floor := p(launched, 0.5)-p(direct, 0.5), p(env, 0.5)-p(direct, 0.5)
	t.Logf("start of /bin/true, %d runs each, p50 (p90): alone %s (%s); through ehecoatl-exec %s (%s); through env %s (%s); added at p50: launcher %s, env %s",
		runs, p(direct, 0.5), p(direct, 0.9), p(launched, 0.5), p(launched, 0.9), p(env, 0.5), p(env, 0.9), added, floor)
	if added > 5*time.Millisecond {
		t.Errorf("the launcher adds %s at p50 (env %s): has it grown imports?", added, floor)
	}
}
