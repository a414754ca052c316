package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// workPrefix starts the name of every run's work directory
// (os.TempDir()/ehecoatl-benchrouter-PID-RANDOM); sweepStale looks for it.
const workPrefix = "ehecoatl-benchrouter-"

// procs tracks the long-running processes of a run (backend, routers,
// nginx). Each runs in a process group of its own, so that stopping it also
// stops what it forked (nginx's workers), and gets SIGKILL if this program
// dies (Pdeathsig). Each group is also written to a record file, so that a
// later run can sweep what a run killed with SIGKILL left behind (nginx
// workers outlive a killed master).
type procs struct {
	mu     sync.Mutex
	record string
	list   []*proc
}

type proc struct {
	name  string
	cmd   *exec.Cmd
	pid   int
	done  chan struct{}
	err   error
	log   string // file with its stdout and stderr
	start uint64 // starttime of the group leader, for the record
}

// start runs argv in a new process group with env added to ours; its output
// goes to logFile.
func (ps *procs) start(name, logFile string, env []string, argv ...string) (*proc, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{}), log: logFile}
	p.start, _ = starttime(p.pid)
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	ps.mu.Lock()
	ps.list = append(ps.list, p)
	if rf, err := os.OpenFile(ps.record, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600); err == nil {
		fmt.Fprintf(rf, "%d %d %s\n", p.pid, p.start, name)
		rf.Close()
	}
	ps.mu.Unlock()
	return p, nil
}

// exited reports whether the process has ended, with its log's tail.
func (p *proc) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited: %v\n%s", p.name, p.err, tail(p.log, 20))
	default:
		return nil
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after 3 s, and
// waits for the leader; it kills the group again in case members outlived
// the leader.
func (p *proc) stop() {
	select {
	case <-p.done:
	default:
		syscall.Kill(-p.pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(3 * time.Second):
			syscall.Kill(-p.pid, syscall.SIGKILL)
			<-p.done
		}
	}
	// Group members whose leader is gone (nginx workers): the group ID
	// cannot be reused while any member lives.
	syscall.Kill(-p.pid, syscall.SIGKILL)
}

// stopAll stops every process started so far, newest first.
func (ps *procs) stopAll() {
	ps.mu.Lock()
	list := ps.list
	ps.list = nil
	ps.mu.Unlock()
	var wg sync.WaitGroup
	for i := len(list) - 1; i >= 0; i-- {
		wg.Add(1)
		go func(p *proc) { defer wg.Done(); p.stop() }(list[i])
	}
	wg.Wait()
}

// sweepStale removes what earlier runs killed with SIGKILL left behind:
// for each work directory whose owner process is gone, it kills the
// processes of the recorded process groups started no earlier than the
// recorded leader, then removes the directory.
func sweepStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), workPrefix+"*"))
	for _, d := range dirs {
		rest := strings.TrimPrefix(filepath.Base(d), workPrefix)
		owner, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
		if err != nil || owner == os.Getpid() {
			continue
		}
		b, _ := os.ReadFile(filepath.Join(d, "procs"))
		lines := strings.Split(string(b), "\n")
		if ownerAlive(owner, lines[0]) {
			continue
		}
		for _, line := range lines[1:] {
			f := strings.Fields(line)
			if len(f) < 3 {
				continue
			}
			pgid, err1 := strconv.Atoi(f[0])
			since, err2 := strconv.ParseUint(f[1], 10, 64)
			if err1 != nil || err2 != nil || pgid <= 1 {
				continue
			}
			for _, pid := range groupMembers(pgid) {
				if st, err := starttime(pid); err == nil && st >= since {
					fmt.Printf("sweep: killing PID %d (%s of a killed earlier run)\n", pid, f[2])
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		fmt.Printf("sweep: removing %s of a killed earlier run\n", d)
		os.RemoveAll(d)
	}
}

// ownerAlive reports whether the run that made a work directory still
// runs: its PID names a live (not zombie) process with the starttime of the
// record's first line ("owner STARTTIME"). Without a record (a run killed
// before it started anything) the PID alone decides.
func ownerAlive(pid int, first string) bool {
	f := statFields(pid)
	if len(f) < 20 || f[0] == "Z" {
		return false
	}
	if rec, ok := strings.CutPrefix(first, "owner "); ok {
		return strings.TrimSpace(rec) == f[19]
	}
	return true
}

// writeOwner starts the record of this run.
func (ps *procs) writeOwner() error {
	st, err := starttime(os.Getpid())
	if err != nil {
		return err
	}
	return os.WriteFile(ps.record, []byte(fmt.Sprintf("owner %d\n", st)), 0o600)
}

// groupMembers lists the processes whose process group is pgid.
func groupMembers(pgid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := statFields(pid); len(f) > 2 && f[2] == strconv.Itoa(pgid) {
			out = append(out, pid)
		}
	}
	return out
}

// statFields returns the fields of /proc/PID/stat after the command name:
// [0] is field 3 (state), [2] the process group, [11]/[12] utime/stime,
// [19] starttime.
func statFields(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

func starttime(pid int) (uint64, error) {
	f := statFields(pid)
	if len(f) < 20 {
		return 0, fmt.Errorf("no process %d", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// cpuTicks is the user+system CPU time of pids in clock ticks (1/100 s).
func cpuTicks(pids []int) int64 {
	var sum int64
	for _, pid := range pids {
		f := statFields(pid)
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		sum += u + s
	}
	return sum
}

// childPIDs lists the children of pid (nginx's workers).
func childPIDs(pid int) []int {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(s); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// vmStatus returns a field of /proc/PID/status in kB (VmRSS, VmHWM).
func vmStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, field)
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ensureTools installs wrk, nginx-light and nghttp2-client (h2load) from
// Debian when they are missing and we are root, as the Makefile's deps
// target does for its tools.
// Debian's nginx package enables nginx.service and starts nginx on :80 from
// its postinst: a temporary policy-rc.d forbids the start, nginx.service is
// disabled afterwards, and an nginx started anyway is stopped.
func ensureTools(ctx context.Context) error {
	var missing []string
	if _, err := exec.LookPath("wrk"); err != nil {
		missing = append(missing, "wrk")
	}
	if _, err := exec.LookPath("nginx"); err != nil {
		missing = append(missing, "nginx-light")
	}
	if _, err := exec.LookPath("h2load"); err != nil {
		missing = append(missing, "nghttp2-client") // the TLS section's HTTP/2 client
	}
	if len(missing) == 0 {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("missing %s (apt-get install -y %s as root)", strings.Join(missing, ", "), strings.Join(missing, " "))
	}
	fmt.Printf("installing: %s\n", strings.Join(missing, " "))
	const policy = "/usr/sbin/policy-rc.d"
	if _, err := os.Stat(policy); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(policy, []byte("#!/bin/sh\n# temporary, from ehecoatl's bench-router: no service starts during apt-get install\nexit 101\n"), 0o755); err == nil {
			defer os.Remove(policy)
		}
	}
	script := "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq " + strings.Join(missing, " ")
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", script, err)
	}
	if _, err := os.Stat("/lib/systemd/system/nginx.service"); err == nil {
		// Offline on a host without systemd; keeps nginx from starting in
		// containers booted from this root (the harness masks it anyway).
		exec.CommandContext(ctx, "systemctl", "disable", "--no-reload", "nginx.service").Run()
	}
	if b, err := os.ReadFile("/run/nginx.pid"); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) == "nginx" {
				fmt.Printf("stopping the nginx (PID %d) that the package started\n", pid)
				syscall.Kill(pid, syscall.SIGQUIT)
			}
		}
	}
	return nil
}
