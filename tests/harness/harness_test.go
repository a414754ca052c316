package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBoot boots one guest and checks what the integration tests rely on.
func TestBoot(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "tool"), []byte("#!/bin/sh\necho tool ran\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(src, "tree/sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "tree/sub/f.txt"), []byte("deep"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub/f.txt", filepath.Join(src, "tree/link")); err != nil {
		t.Fatal(err)
	}

	m := BootT(t, Options{
		Files: map[string]string{
			"/usr/local/bin/harness-tool": filepath.Join(src, "tool"),
			"/opt/harness-tree":           filepath.Join(src, "tree"),
		},
		Mask: []string{"harness-test-masked.service"},
	})
	t.Logf("boot took %s", m.BootTime())
	ctx := t.Context()
	pid1, root, name := m.PID(), m.Root(), m.Name()

	t.Run("state", func(t *testing.T) {
		out, _, _ := m.Run(ctx, "systemctl", "is-system-running")
		if s := strings.TrimSpace(out); s != "running" && s != "degraded" {
			t.Errorf("is-system-running = %q, want running or degraded", s)
		}
		if v, _ := os.ReadFile(filepath.Join(root, "proc/1/comm")); strings.TrimSpace(string(v)) != "systemd" {
			t.Errorf("PID 1 inside is %q, want systemd", v)
		}
		if out, _, _ := m.Run(ctx, "hostname"); out != name+"\n" {
			t.Errorf("hostname inside = %q, want %s", out, name)
		}
	})

	t.Run("files", func(t *testing.T) {
		// PATH inside includes /usr/local/bin; mode (executable) was kept.
		out, _, err := m.Run(ctx, "harness-tool")
		if err != nil || out != "tool ran\n" {
			t.Errorf("harness-tool: %q, %v", out, err)
		}
		out, _, err = m.Run(ctx, "stat", "-c", "%a %s", "/opt/harness-tree/sub/f.txt")
		if err != nil || out != "640 4\n" {
			t.Errorf("copied tree file: %q, %v", out, err)
		}
		if b, err := m.ReadFile("/opt/harness-tree/link"); err != nil || string(b) != "deep" {
			t.Errorf("copied symlink: %q, %v", b, err)
		}
		if _, err := os.Stat("/opt/harness-tree"); err == nil {
			t.Error("/opt/harness-tree appeared on the host")
		}
	})

	t.Run("mask", func(t *testing.T) {
		for _, u := range []string{"postgresql.service", "nginx.service", "harness-test-masked.service"} {
			out, _, _ := m.Run(ctx, "systemctl", "is-enabled", u)
			if s := strings.TrimSpace(out); s != "masked" {
				t.Errorf("%s is %q inside, want masked", u, s)
			}
		}
	})

	t.Run("dynamic user", func(t *testing.T) {
		out, _, err := m.Run(ctx, "systemd-run", "--wait", "--pipe", "--quiet", "-p", "DynamicUser=yes", "/usr/bin/id", "-u")
		if err != nil {
			t.Fatal(err)
		}
		uid, err := strconv.Atoi(strings.TrimSpace(out))
		if err != nil || uid < 61184 || uid > 65519 {
			t.Errorf("dynamic uid = %q, want 61184..65519", out)
		}
	})

	t.Run("write and read", func(t *testing.T) {
		// /tmp inside is the guest's own tmpfs: invisible to the host's /tmp.
		if err := m.WriteFile("/tmp/harness/x", []byte("hello"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, _, err := m.Run(ctx, "stat", "-c", "%a %n", "/tmp/harness/x")
		if err != nil || out != "600 /tmp/harness/x\n" {
			t.Errorf("stat inside: %q, %v", out, err)
		}
		if _, err := os.Stat("/tmp/harness/x"); err == nil {
			t.Error("/tmp/harness/x is visible on the host")
		}
		if _, _, err := m.Run(ctx, "sh", "-c", "echo guest > /etc/harness-written"); err != nil {
			t.Fatal(err)
		}
		if b, err := m.ReadFile("/etc/harness-written"); err != nil || string(b) != "guest\n" {
			t.Errorf("ReadFile: %q, %v", b, err)
		}
		// An absolute symlink inside the guest must resolve inside it.
		if _, _, err := m.Run(ctx, "ln", "-s", "/etc/harness-written", "/etc/harness-link"); err != nil {
			t.Fatal(err)
		}
		if err := m.WriteFile("/etc/harness-link", []byte("via link\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, _, _ := m.Run(ctx, "cat", "/etc/harness-written"); out != "via link\n" {
			t.Errorf("write through guest symlink: guest file has %q", out)
		}
		if _, err := os.Stat("/etc/harness-written"); err == nil {
			t.Error("write through a guest symlink reached the host")
		}
		if _, err := m.ReadFile("/nonexistent"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("ReadFile of a missing file: %v, want ErrNotExist", err)
		}
	})

	t.Run("reach from host", func(t *testing.T) {
		// A socket-activated service inside, reached over TCP on the shared
		// loopback and over a unix socket through Root().
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		socket := fmt.Sprintf("[Socket]\nListenStream=127.0.0.1:%d\nListenStream=/run/harness-echo.sock\nAccept=yes\n", port)
		service := "[Service]\nExecStart=/bin/echo hello from the guest\nStandardOutput=socket\nDynamicUser=yes\n"
		if err := m.WriteFile("/etc/systemd/system/harness-echo.socket", []byte(socket), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := m.WriteFile("/etc/systemd/system/harness-echo@.service", []byte(service), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := m.Run(ctx, "systemctl", "daemon-reload"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := m.Run(ctx, "systemctl", "start", "harness-echo.socket"); err != nil {
			t.Fatal(err)
		}
		for _, addr := range []struct{ network, address string }{
			{"tcp", fmt.Sprintf("127.0.0.1:%d", port)},
			{"unix", root + "/run/harness-echo.sock"},
		} {
			c, err := net.DialTimeout(addr.network, addr.address, 5*time.Second)
			if err != nil {
				t.Errorf("dial %s: %v", addr.address, err)
				continue
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			b, err := io.ReadAll(c)
			c.Close()
			if string(b) != "hello from the guest\n" {
				t.Errorf("%s answered %q, %v", addr.address, b, err)
			}
		}
	})

	t.Run("exit error", func(t *testing.T) {
		_, _, err := m.Run(ctx, "sh", "-c", "echo oops >&2; exit 3")
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Fatalf("err = %v, want an *exec.ExitError with code 3", err)
		}
		if !strings.Contains(err.Error(), "oops") || !strings.Contains(err.Error(), "sh -c") {
			t.Errorf("error %q should quote the command and its stderr", err)
		}
	})

	t.Run("command cancel", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cmd := m.Command(cctx, "sleep", "1000")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		cancel()
		cmd.Wait()
		// The sleep inside must be gone too, not just nsenter.
		out, _, _ := m.Run(ctx, "sh", "-c", "pgrep -x sleep || true")
		if strings.TrimSpace(out) != "" {
			t.Errorf("sleep still runs inside after cancel: PIDs %s", out)
		}
	})

	t.Run("journal", func(t *testing.T) {
		j := m.Journal(ctx, "-n", "50")
		if !strings.Contains(j, "systemd") {
			t.Errorf("journal has no systemd lines:\n%s", j)
		}
		mine := m.Journal(ctx, "-u", "nonexistent.service")
		if strings.Contains(mine, "Started") {
			t.Errorf("journalctl args were not passed: %s", mine)
		}
	})

	t.Run("close", func(t *testing.T) {
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if err := m.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		assertGone(t, name, pid1)
		if _, _, err := m.Run(ctx, "true"); err == nil {
			t.Error("Run after Close succeeded")
		}
		if err := m.WriteFile("/etc/x", nil, 0o644); err == nil {
			t.Error("WriteFile after Close succeeded")
		}
	})
}

// TestParallel boots two guests at once.
func TestParallel(t *testing.T) {
	const n = 2
	var wg sync.WaitGroup
	ms := make([]*Machine, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ms[i], errs[i] = Boot(t.Context(), Options{Stdout: testLog{t}})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if errors.Is(err, ErrUnavailable) {
			t.Skip(err)
		}
		if err != nil {
			t.Fatalf("machine %d: %v", i, err)
		}
		t.Cleanup(func() { ms[i].Close() })
	}
	if ms[0].Name() == ms[1].Name() || ms[0].PID() == ms[1].PID() {
		t.Fatalf("machines share name or PID: %s/%d %s/%d", ms[0].Name(), ms[0].PID(), ms[1].Name(), ms[1].PID())
	}
	// Each has its own filesystem and machine ID.
	ids := map[string]bool{}
	for i, m := range ms {
		if err := m.WriteFile("/etc/harness-which", []byte(strconv.Itoa(i)), 0o644); err != nil {
			t.Fatal(err)
		}
		id, err := m.ReadFile("/etc/machine-id")
		if err != nil {
			t.Fatal(err)
		}
		ids[string(id)] = true
	}
	for i, m := range ms {
		out, _, err := m.Run(t.Context(), "cat", "/etc/harness-which")
		if err != nil || out != strconv.Itoa(i) {
			t.Errorf("machine %d sees %q (%v)", i, out, err)
		}
	}
	if host, _ := os.ReadFile("/etc/machine-id"); len(ids) != n || ids[string(host)] {
		t.Errorf("machine IDs are not distinct from each other and the host: %v", ids)
	}
	for _, m := range ms {
		pid, name := m.PID(), m.Name()
		if err := m.Close(); err != nil {
			t.Error(err)
		}
		assertGone(t, name, pid)
	}
}

// TestFilesRefused checks that copies that boot would hide are refused
// before anything is mounted.
func TestFilesRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	_, err := Boot(t.Context(), Options{Files: map[string]string{"/tmp/x": "/etc/hostname"}})
	if err == nil || errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "/tmp") {
		t.Fatalf("Boot with a file under /tmp: %v, want a refusal naming /tmp", err)
	}
	_, err = Boot(t.Context(), Options{Name: "bad_name"})
	if err == nil || !strings.Contains(err.Error(), "bad_name") {
		t.Fatalf("Boot with a bad name: %v", err)
	}
}

// TestBootCanceled cancels boots at several points and checks that nothing
// is left behind.
func TestBootCanceled(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	durations := []time.Duration{time.Millisecond, 30 * time.Millisecond, 120 * time.Millisecond}
	if n, _ := strconv.Atoi(os.Getenv("HARNESS_CANCEL_STRESS")); n > 0 {
		durations = nil
		for i := range n {
			durations = append(durations, time.Duration(i*10)*time.Millisecond)
		}
	}
	for _, d := range durations {
		ctx, cancel := context.WithTimeout(t.Context(), d)
		m, err := Boot(ctx, Options{})
		cancel()
		if errors.Is(err, ErrUnavailable) {
			t.Skip(err)
		}
		if err == nil {
			t.Logf("booted within %s", d)
			m.Close()
		} else if !strings.Contains(err.Error(), "deadline") {
			t.Errorf("boot canceled after %s: %v, want a deadline error", d, err)
		}
		assertGone(t, "", 0)
	}
}

// TestSweep plants the leftovers of a dead run (a mounted machine directory
// of a process that no longer exists) and checks Sweep removes them, while
// it leaves a live machine alone.
func TestSweep(t *testing.T) {
	live := BootT(t, Options{})
	// A process that existed and is gone: its tag is stale.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	st := fmt.Sprintf("%d.1", dead.Process.Pid)
	dir, err := os.MkdirTemp("", dirPrefix+st+"-*")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v %s", err, out)
	}
	os.Mkdir(filepath.Join(dir, "root"), 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "tmpfs", filepath.Join(dir, "root")).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v %s", err, out)
	}
	if err := Sweep(); err != nil {
		t.Fatal(err)
	}
	if mounts := ourMounts(t); len(mounts) > 0 {
		t.Errorf("mounts left after Sweep: %v", mounts)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("%s left after Sweep", dir)
	}
	if out, _, err := live.Run(t.Context(), "true"); err != nil {
		t.Errorf("Sweep harmed a live machine: %q %v", out, err)
	}
}

// TestInterrupt runs a child test process that boots a machine and then gets
// SIGTERM: the machine must be gone with it.
func TestInterrupt(t *testing.T) {
	if os.Getenv("HARNESS_INTERRUPT_CHILD") == "1" {
		m, err := Boot(context.Background(), Options{})
		if err != nil {
			fmt.Println("BOOT-ERROR", err)
			os.Exit(1)
		}
		fmt.Printf("BOOTED %s %d\n", m.Name(), m.PID())
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := exec.LookPath("systemd-nspawn"); err != nil {
		t.Skip("needs systemd-nspawn (apt-get install -y systemd-container)")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestInterrupt$", "-test.v")
	cmd.Env = append(os.Environ(), "HARNESS_INTERRUPT_CHILD=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var name string
	var pid int
	buf := make([]byte, 4096)
	var got strings.Builder
	deadline := time.Now().Add(60 * time.Second)
	for name == "" && time.Now().Before(deadline) {
		n, err := stdout.Read(buf)
		got.Write(buf[:n])
		for _, line := range strings.Split(got.String(), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "BOOTED" {
				name = f[1]
				pid, _ = strconv.Atoi(f[2])
			}
		}
		if err != nil {
			break
		}
	}
	if name == "" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child did not boot:\n%s", got.String())
	}
	cmd.Process.Signal(os.Interrupt)
	go func() {
		for {
			if _, err := stdout.Read(buf); err != nil {
				return
			}
		}
	}()
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != -1 {
		t.Errorf("child exit: %v, want death by signal (re-raised)", err)
	}
	assertGone(t, name, pid)
}

// assertGone checks that no mount of ours and no process of the machine
// remain on the host.
func assertGone(t *testing.T, name string, pid1 int) {
	t.Helper()
	if mounts := ourMounts(t); len(mounts) > 0 {
		t.Errorf("mounts left: %v", mounts)
	}
	if pid1 > 0 {
		if st, err := readStat(pid1); err == nil && st.comm == "systemd" {
			t.Errorf("guest PID 1 (%d) still runs", pid1)
		}
	}
	for _, pid := range allPIDs() {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.Contains(string(cmdline), "systemd-nspawn") && strings.Contains(string(cmdline), "/"+dirPrefix+ownerTag()+"-") &&
			(name == "" || strings.Contains(string(cmdline), "--machine="+name)) {
			t.Errorf("systemd-nspawn for %s still runs (PID %d)", name, pid)
		}
	}
}

// ourMounts lists mount points under machine directories of this process
// or of owners that are gone: `go test ./...` runs other test packages
// (tests/) at the same time, and their live machines are not our leaks.
func ourMounts(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) <= 4 {
			continue
		}
		if _, tag, ok := machineDir(f[4]); ok && (tag == ownerTag() || staleTag(tag)) {
			out = append(out, f[4])
		}
	}
	return out
}

// A machine of another live test process (the tests package boots its own
// while this one runs under `go test ./...`) is not a leak of ours; one of
// a dead owner is (issue: "mounts left" failed runs on a fresh machine).
func TestOurMountsIgnoresLiveOwners(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
	st, err := readStat(os.Getppid())
	if err != nil {
		t.Fatal(err)
	}
	live := fmt.Sprintf("%d.%d", os.Getppid(), st.starttime)
	dir, err := os.MkdirTemp("", dirPrefix+live+"-*")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run(); os.Remove(dir) })
	for _, m := range ourMounts(t) {
		if m == dir {
			t.Errorf("ourMounts counts %s, a machine directory of the live process %d", dir, os.Getppid())
		}
	}
}
