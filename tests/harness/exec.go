package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// guestPath is PATH inside the guest, as systemd gives it to services.
const guestPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// GuestEnv returns the environment of commands run inside the guest: a
// clean one, as a root login would have it, not the test process's (whose
// PATH and HOME belong to the host user's tools). Append to Cmd.Env to add.
func GuestEnv() []string {
	return []string{
		"PATH=" + guestPath,
		"HOME=/root",
		"USER=root",
		"LOGNAME=root",
		"LANG=C.UTF-8",
	}
}

// Command returns a command that runs argv inside the guest, in all
// namespaces of its PID 1 (nsenter -a), as root, in /, with GuestEnv.
// It is for long-running or streaming commands; Run is simpler otherwise.
//
// The command runs in its own process group, and cancelling ctx kills the
// whole group with SIGKILL (the process started inside the guest and its
// children too: nsenter forwards no signals, so killing it alone would leave
// them running). Setpgid also means it cannot read a terminal.
// The process does not belong to a unit of the guest's systemd; use
// systemd-run inside for that. After Close, Start fails.
func (m *Machine) Command(ctx context.Context, argv ...string) *exec.Cmd {
	pid := m.PID()
	args := append([]string{"-t", strconv.Itoa(pid), "-a", "--"}, argv...)
	cmd := exec.CommandContext(ctx, "nsenter", args...)
	cmd.Env = GuestEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return cancelGroup(cmd.Process.Pid) }
	cmd.WaitDelay = 5 * time.Second
	switch {
	case len(argv) == 0:
		cmd.Err = fmt.Errorf("harness: %s: no command given", m.name)
	case pid == 0:
		// The PID may already be reused: never nsenter it.
		cmd.Err = fmt.Errorf("harness: %s: %w", m.name, ErrNotRunning)
	}
	return cmd
}

// cancelGroup kills the processes of nsenter's process group but not
// nsenter itself, which then reaps its child and exits. Killing nsenter too
// would hand its child to the host's init (the child's parent is outside the
// guest's PID namespace), and until that init reaps the zombie, killing the
// guest's PID 1 blocks. If nsenter has no child yet, the group is killed.
func cancelGroup(nsenter int) error {
	killed := false
	for _, pid := range allPIDs() {
		if st, err := readStat(pid); err == nil && st.pgrp == nsenter && pid != nsenter {
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				killed = true
			}
		}
	}
	if !killed {
		return syscall.Kill(-nsenter, syscall.SIGKILL)
	}
	return nil
}

// Run runs argv inside the guest (see Command) and returns its output. A
// non-zero exit is an error wrapping *exec.ExitError that names the command
// and quotes its stderr.
func (m *Machine) Run(ctx context.Context, argv ...string) (stdout, stderr string, err error) {
	cmd := m.Command(ctx, argv...)
	if cmd.Err != nil {
		return "", "", cmd.Err
	}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	if err != nil {
		msg := strings.TrimSpace(e.String())
		if msg != "" {
			msg = ": " + msg
		}
		err = fmt.Errorf("harness: %s: %s: %w%s", m.name, quoteArgv(argv), err, msg)
	}
	return o.String(), e.String(), err
}

// Journal returns `journalctl --no-pager -b -o short-iso ARGS...` of the
// guest; a failure is reported in the returned text.
func (m *Machine) Journal(ctx context.Context, args ...string) string {
	argv := append([]string{"journalctl", "--no-pager", "-b", "-o", "short-iso"}, args...)
	out, _, err := m.Run(ctx, argv...)
	if err != nil {
		out += "\n(" + err.Error() + ")"
	}
	return out
}

// WriteFile writes data to guestPath inside the running guest (its /tmp and
// /run included), creating parent directories 0755; perm is set exactly.
// Symlinks resolve inside the guest.
func (m *Machine) WriteFile(guestPath string, data []byte, perm os.FileMode) error {
	g, err := m.guestFS()
	if err != nil {
		return err
	}
	defer g.close()
	if err := g.writeFile(guestPath, bytes.NewReader(data), perm); err != nil {
		return fmt.Errorf("harness: %s: %w", m.name, err)
	}
	return nil
}

// ReadFile reads guestPath inside the running guest; symlinks resolve inside
// the guest. A missing file is an error matching os.ErrNotExist.
func (m *Machine) ReadFile(guestPath string) ([]byte, error) {
	g, err := m.guestFS()
	if err != nil {
		return nil, err
	}
	defer g.close()
	b, err := g.readFile(guestPath)
	if err != nil {
		return nil, fmt.Errorf("harness: %s: %w", m.name, err)
	}
	return b, nil
}

// CopyIn copies a host file or directory tree into the running guest, as
// Options.Files does before boot.
func (m *Machine) CopyIn(guestPath, hostPath string) error {
	g, err := m.guestFS()
	if err != nil {
		return err
	}
	defer g.close()
	if err := g.copyIn(guestPath, hostPath); err != nil {
		return fmt.Errorf("harness: %s: copy %s to %s: %w", m.name, hostPath, guestPath, err)
	}
	return nil
}

func (m *Machine) guestFS() (*guestFS, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.pid1 == 0 || !sameProcess(m.pid1, m.start1) {
		return nil, fmt.Errorf("harness: %s: %w", m.name, ErrNotRunning)
	}
	return openGuestFS(fmt.Sprintf("/proc/%d/root", m.pid1))
}

// ErrNotRunning is wrapped by the errors of methods called after Close (or
// after the guest died).
var ErrNotRunning = errors.New("machine is not running")

// quoteArgv renders argv for error messages, quoting what a shell would need.
func quoteArgv(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`;&|<>()*?[]#~!{}") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}
