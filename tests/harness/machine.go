package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// dirPrefix starts the name of every machine's host directory
	// (os.TempDir()/ehecoatl-machine-OWNER-RANDOM); Sweep looks for it.
	dirPrefix = "ehecoatl-machine-"
	// markerVar is set, to the owner tag, in the environment of
	// systemd-nspawn and of the guest's PID 1; Sweep looks for it.
	markerVar = "EHECOATL_HARNESS_OWNER"
	// defaultNamePrefix starts the default machine names.
	defaultNamePrefix = "ehecoatl-test-"
)

// Machine is a booted guest systemd. Its methods are safe for concurrent use.
type Machine struct {
	name    string
	out     lineWriter
	quiet   atomic.Bool // set when the test's log may be gone (signal teardown)
	console *consoleLog

	mu      sync.Mutex // guards the fields below against a concurrent Close
	closed  bool
	dir     string   // host directory, removed once the guest runs
	mounts  []string // host-side mount points still attached, innermost last
	cgroups []string // the machine's own cgroups (see cgroup.go)
	nspawn  *exec.Cmd
	exited  chan struct{} // closed when systemd-nspawn has exited
	waitErr error         // of systemd-nspawn, valid after exited
	release chan struct{} // lets the thread that started systemd-nspawn go
	pid1    int           // host PID of the guest's PID 1
	start1  uint64        // its start time, guarding against PID reuse

	bootTime time.Duration
	failed   []string

	closeOnce sync.Once
	closeErr  error
}

// Name returns the machine name.
func (m *Machine) Name() string { return m.name }

// PID returns the host PID of the guest's PID 1 (systemd), 0 after Close.
func (m *Machine) PID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0
	}
	return m.pid1
}

// BootTime is how long Boot took, from the first mount to systemd reporting
// running or degraded.
func (m *Machine) BootTime() time.Duration { return m.bootTime }

// FailedAtBoot lists the units that had failed when the guest finished booting
// (then systemd reports "degraded"); empty for a clean boot.
func (m *Machine) FailedAtBoot() []string { return slices.Clone(m.failed) }

// Root returns the host path of the guest's root directory,
// /proc/PID1/root. Reading through it sees the guest's mounts (its /tmp,
// /run), but absolute symlinks inside the guest resolve against the host's
// root: prefer ReadFile/WriteFile, which resolve them inside the guest.
func (m *Machine) Root() string { return fmt.Sprintf("/proc/%d/root", m.PID()) }

// Boot boots a guest systemd and waits until it reports running or degraded
// (the failed units are reported to Options.Stdout and by FailedAtBoot).
// Errors that mean this host cannot run a guest wrap ErrUnavailable.
func Boot(ctx context.Context, opts Options) (*Machine, error) {
	began := time.Now()
	if err := checkHost(); err != nil {
		return nil, err
	}
	if opts.Name == "" {
		opts.Name = defaultNamePrefix + randomHex(4)
	}
	if !machineName.MatchString(opts.Name) {
		return nil, fmt.Errorf("harness: machine name %q: use letters, digits, '-' and '.', at most 64", opts.Name)
	}
	if err := opts.checkFiles(); err != nil {
		return nil, fmt.Errorf("harness: %s: %w", opts.Name, err)
	}
	masks, err := opts.maskList()
	if err != nil {
		return nil, fmt.Errorf("harness: %s: %w", opts.Name, err)
	}
	if _, hasDeadline := ctx.Deadline(); !hasDeadline {
		timeout := opts.BootTimeout
		if timeout <= 0 {
			timeout = 60 * time.Second
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}

	out := lineWriter{w: opts.Stdout, prefix: "harness: " + opts.Name + ": "}
	if err := sweep(out); err != nil {
		out.printf("sweep: %v", err)
	}

	m := &Machine{
		name:    opts.Name,
		out:     out,
		console: newConsoleLog(64<<10, opts.Console),
	}
	if err := register(m); err != nil {
		return nil, fmt.Errorf("harness: %w", err)
	}
	fail := func(err error) (*Machine, error) {
		m.quiet.Store(true)
		m.Close()
		return nil, err
	}
	root, err := m.mount()
	if err != nil {
		return fail(err)
	}
	if err := m.prepare(root, masks, opts.generatorMask(), opts.Files); err != nil {
		return fail(fmt.Errorf("harness: %s: prepare guest: %w", m.name, err))
	}
	if err := m.startNspawn(root); err != nil {
		return fail(err)
	}
	if err := m.waitPID1(ctx); err != nil {
		return fail(err)
	}
	// The guest's mount namespace now holds its own references to the tmpfs
	// and the overlay: drop the host's, so that nothing stays mounted on the
	// host however this process ends.
	if err := m.detach(); err != nil {
		return fail(err)
	}
	if err := m.waitRunning(ctx); err != nil {
		return fail(err)
	}
	m.bootTime = time.Since(began)
	if len(m.failed) > 0 {
		out.printf("booted in %.2fs, degraded; failed units: %s", m.bootTime.Seconds(), strings.Join(m.failed, " "))
	} else {
		out.printf("booted in %.2fs (PID 1 is host PID %d)", m.bootTime.Seconds(), m.pid1)
	}
	return m, nil
}

// checkHost explains what is missing for a guest to boot here.
func checkHost() error {
	if uid := os.Geteuid(); uid != 0 {
		return fmt.Errorf("harness: %w: needs root (running as uid %d) and systemd-nspawn (apt-get install -y systemd-container)", ErrUnavailable, uid)
	}
	if _, err := exec.LookPath("systemd-nspawn"); err != nil {
		return fmt.Errorf("harness: %w: systemd-nspawn not found (apt-get install -y systemd-container)", ErrUnavailable)
	}
	if _, err := exec.LookPath("nsenter"); err != nil {
		return fmt.Errorf("harness: %w: nsenter not found (apt-get install -y util-linux)", ErrUnavailable)
	}
	if _, err := os.Stat("/usr/lib/systemd/systemd"); err != nil {
		return fmt.Errorf("harness: %w: the host has no /usr/lib/systemd/systemd to boot (apt-get install -y systemd)", ErrUnavailable)
	}
	return nil
}

// mount creates the host directory, a private tmpfs on it, and the overlay
// of the host's root; it returns the overlay's mount point.
func (m *Machine) mount() (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return "", fmt.Errorf("harness: %s: closed while booting", m.name)
	}
	dir, err := os.MkdirTemp("", dirPrefix+ownerTag()+"-*")
	if err != nil {
		return "", fmt.Errorf("harness: %s: %w", m.name, err)
	}
	m.dir = dir
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "mode=0755"); err != nil {
		return "", fmt.Errorf("harness: %w: mount tmpfs on %s: %v (needs CAP_SYS_ADMIN in the host's mount namespace)", ErrUnavailable, dir, err)
	}
	m.mounts = append(m.mounts, dir)
	// Private, so that neither the guest's copies nor our later detach
	// propagate anywhere (on hosts where / is shared, as under systemd).
	if err := unix.Mount("", dir, "", unix.MS_PRIVATE, ""); err != nil {
		return "", fmt.Errorf("harness: %s: make %s private: %w", m.name, dir, err)
	}
	upper, work, root := filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "root")
	for _, d := range []string{upper, work, root} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return "", fmt.Errorf("harness: %s: %w", m.name, err)
		}
	}
	opts := "lowerdir=/,upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", root, "overlay", 0, opts); err != nil {
		return "", fmt.Errorf("harness: %w: mount overlay of / on %s: %v (no overlayfs over this root?)", ErrUnavailable, root, err)
	}
	m.mounts = append(m.mounts, root)
	return root, nil
}

// prepare writes the guest's own machine ID, the masks of units and
// generators, and Options.Files
// through the overlay, before boot.
func (m *Machine) prepare(root string, masks, generators []string, files map[string]string) error {
	g, err := openGuestFS(root)
	if err != nil {
		return err
	}
	defer g.close()
	// A machine ID of its own: journalctl -b and the journal files are then
	// this guest's, and nspawn does not complain that it equals the host's.
	if err := g.writeFile("/etc/machine-id", strings.NewReader(randomHex(16)+"\n"), 0o444); err != nil {
		return err
	}
	// The machine name as hostname tells parallel guests' journals apart.
	if err := g.writeFile("/etc/hostname", strings.NewReader(m.name+"\n"), 0o644); err != nil {
		return err
	}
	for _, u := range masks {
		if err := g.symlink("/dev/null", "/etc/systemd/system/"+u); err != nil {
			return err
		}
	}
	for _, gen := range generators {
		if err := g.symlink("/dev/null", "/etc/systemd/system-generators/"+gen); err != nil {
			return err
		}
	}
	guests := make([]string, 0, len(files))
	for guest := range files {
		guests = append(guests, guest)
	}
	sort.Strings(guests) // parents before children
	for _, guest := range guests {
		if err := g.copyIn(guest, files[guest]); err != nil {
			return fmt.Errorf("Options.Files: %s: %w", guest, err)
		}
	}
	return nil
}

// startNspawn starts systemd-nspawn from a goroutine locked to its OS thread
// for the machine's lifetime: PR_SET_PDEATHSIG fires when the *thread* that
// forked the child exits, and Go may otherwise retire that thread.
func (m *Machine) startNspawn(root string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("harness: %s: closed while booting", m.name)
	}
	nspawn, err := exec.LookPath("systemd-nspawn")
	if err != nil {
		return fmt.Errorf("harness: %w: systemd-nspawn not found (apt-get install -y systemd-container)", ErrUnavailable)
	}
	marker := markerVar + "=" + ownerTag()
	var argv []string
	dirs, procs, err := makeCgroups(filepath.Base(m.dir))
	if err != nil {
		m.out.printf("warning: no cgroup of its own (%v): machines booted in parallel may disturb each other", err)
	} else if len(procs) > 0 {
		m.cgroups = dirs
		// nspawn must start in the cgroup: it reads its own at once.
		argv = append([]string{"/bin/sh", "-c",
			`while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"`,
			"harness-cgroup"}, procs...)
		argv = append(argv, "--")
	}
	argv = append(argv, nspawn,
		"--quiet",
		"--register=no", // no host machined (and none is needed)
		"--keep-unit",   // no host systemd to ask for a scope
		"--link-journal=no",
		"--console=read-only",        // a pty for the guest's console; output to m.console
		"--capability=CAP_NET_ADMIN", // loopback in PrivateNetwork= namespaces
		"-D", root,
		"--machine="+m.name,
		"--setenv="+marker,
		"--boot",
		"systemd.firstboot=0",
		"systemd.unit=multi-user.target",
	)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=" + guestPath, marker}
	cmd.Stdout, cmd.Stderr = m.console, m.console
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,            // a terminal's ^C goes to us, not straight to nspawn
		Pdeathsig: syscall.SIGTERM, // we died: nspawn powers the guest off
	}
	cmd.WaitDelay = 2 * time.Second

	started := make(chan error, 1)
	m.release = make(chan struct{})
	release := m.release
	go func() {
		runtime.LockOSThread()
		err := cmd.Start()
		started <- err
		if err == nil {
			<-release
		}
		runtime.UnlockOSThread()
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("harness: %s: start systemd-nspawn: %w", m.name, err)
	}
	m.nspawn = cmd
	m.exited = make(chan struct{})
	go func() {
		err := cmd.Wait()
		m.mu.Lock()
		m.waitErr = err
		m.mu.Unlock()
		close(m.exited)
	}()
	return nil
}

// waitPID1 waits until nspawn's child has become the guest's systemd.
func (m *Machine) waitPID1(ctx context.Context) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if pid, start := childNamed(m.nspawn.Process.Pid, "systemd"); pid > 0 {
			m.mu.Lock()
			m.pid1, m.start1 = pid, start
			m.mu.Unlock()
			return nil
		}
		select {
		case <-m.exited:
			return m.bootError("systemd-nspawn exited before the guest's systemd started", nil)
		case <-ctx.Done():
			return m.bootError("the guest's systemd did not start", ctx.Err())
		case <-tick.C:
		}
	}
}

// detach lazily unmounts the host side of the guest's filesystems and
// removes the host directory.
func (m *Machine) detach() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("harness: %s: closed while booting", m.name)
	}
	if err := m.unmountLocked(); err != nil {
		return err
	}
	return nil
}

func (m *Machine) unmountLocked() error {
	var errs []error
	for i := len(m.mounts) - 1; i >= 0; i-- {
		if err := unix.Unmount(m.mounts[i], unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m.mounts[i], err))
		}
	}
	m.mounts = nil
	if m.dir != "" && len(errs) == 0 {
		if err := os.Remove(m.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		m.dir = ""
	}
	if len(errs) > 0 {
		return fmt.Errorf("harness: %s: %w", m.name, errors.Join(errs...))
	}
	return nil
}

// waitRunning waits for the guest's manager to accept connections, then for
// `systemctl is-system-running --wait`.
func (m *Machine) waitRunning(ctx context.Context) error {
	private := fmt.Sprintf("/proc/%d/root/run/systemd/private", m.pid1)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if fi, err := os.Stat(private); err == nil && fi.Mode()&os.ModeSocket != 0 {
			stdout, stderr, err := m.Run(ctx, "systemctl", "is-system-running", "--wait")
			if ctx.Err() != nil {
				return m.bootError("the guest did not finish booting", ctx.Err())
			}
			state := strings.TrimSpace(stdout)
			switch state {
			case "running":
				return nil
			case "degraded":
				out, _, _ := m.Run(ctx, "systemctl", "list-units", "--failed", "--plain", "--no-legend", "--no-pager")
				for _, line := range strings.Split(out, "\n") {
					if f := strings.Fields(line); len(f) > 0 {
						m.failed = append(m.failed, f[0])
					}
				}
				return nil
			case "":
				// The manager was not listening yet (the socket exists
				// slightly before it accepts): try again.
				if !strings.Contains(stderr, "connect") {
					return m.bootError("systemctl is-system-running failed", err)
				}
			default:
				return m.bootError("the guest's systemd is "+state, err)
			}
		}
		select {
		case <-m.exited:
			return m.bootError("systemd-nspawn exited while the guest was booting", nil)
		case <-ctx.Done():
			return m.bootError("the guest did not finish booting", ctx.Err())
		case <-tick.C:
		}
	}
}

// bootError explains a failed boot with the end of the guest's console.
func (m *Machine) bootError(what string, err error) error {
	msg := fmt.Sprintf("harness: %s: %s", m.name, what)
	select {
	case <-m.exited:
		m.mu.Lock()
		if m.waitErr != nil {
			msg += " (systemd-nspawn: " + m.waitErr.Error() + ")"
		}
		m.mu.Unlock()
	default:
	}
	if err != nil {
		msg += ": " + err.Error()
	}
	return fmt.Errorf("%s\nlast console lines:\n%s", msg, m.console.tail(40))
}

// Close tears the machine down: it kills the guest's PID 1 (which kills every
// process of the guest), waits for systemd-nspawn to exit, and unmounts and
// removes whatever the host still holds. It is idempotent and safe to call
// concurrently; after it returns nothing of the machine remains.
func (m *Machine) Close() error {
	m.closeOnce.Do(func() { m.closeErr = m.teardown() })
	return m.closeErr
}

func (m *Machine) teardown() error {
	began := time.Now()
	m.mu.Lock()
	m.closed = true
	pid1, start1, nspawn := m.pid1, m.start1, m.nspawn
	m.mu.Unlock()
	var errs []error
	if nspawn != nil {
		if err := m.killGuest(pid1, start1, nspawn.Process.Pid); err != nil {
			errs = append(errs, err)
		}
		close(m.release)
	}
	m.mu.Lock()
	if err := m.unmountLocked(); err != nil {
		errs = append(errs, err)
	}
	if err := removeCgroups(m.cgroups, 2*time.Second); err != nil {
		errs = append(errs, err)
	}
	m.cgroups = nil
	m.mu.Unlock()
	unregister(m)
	if len(errs) > 0 {
		return fmt.Errorf("harness: %s: close: %w", m.name, errors.Join(errs...))
	}
	if !m.quiet.Load() {
		m.out.printf("closed in %.2fs", time.Since(began).Seconds())
	}
	return nil
}

// killGuest kills the guest and waits for systemd-nspawn to exit. SIGKILL of
// a PID namespace's init kills the whole namespace at once (~50 ms, against
// ~1.5 s for a clean poweroff). Before the guest's systemd is known (Close
// during Boot), whatever nspawn has forked is killed: its child is the
// namespace's init even before it execs systemd. SIGTERM to nspawn would ask
// that init for a clean shutdown, which it ignores until systemd has
// installed its handlers.
func (m *Machine) killGuest(pid1 int, start1 uint64, nspawn int) error {
	if pid1 > 0 && sameProcess(pid1, start1) {
		syscall.Kill(pid1, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	var lonely time.Time // since when nspawn has had no child
	forced := false
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-m.exited:
			return nil
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("systemd-nspawn (PID %d) does not exit", nspawn)
		}
		kids := children(nspawn)
		for _, pid := range kids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		switch {
		case len(kids) > 0:
			lonely = time.Time{}
		case lonely.IsZero():
			lonely = time.Now()
		case time.Since(lonely) > 300*time.Millisecond:
			// Nothing forked for a while, yet nspawn runs on (normally
			// it exits within ~40 ms of its child): it and its process
			// group go. A child forked just now would carry markerVar
			// and be left to Sweep.
			syscall.Kill(-nspawn, syscall.SIGKILL)
			if !forced {
				forced = true
				defer os.Remove(filepath.Join(propagateDir, m.name)) // nspawn's own cleanup did not run
			}
		}
	}
}

// Poweroff shuts the guest down cleanly (systemctl poweroff: units are
// stopped in order, ~1.5 s), waits for it, then does what Close does. Close
// alone kills the guest, which is what tests normally want.
func (m *Machine) Poweroff(ctx context.Context) error {
	if m.PID() == 0 {
		return m.Close()
	}
	if _, _, err := m.Run(ctx, "systemctl", "poweroff", "--no-block"); err != nil {
		m.Close()
		return err
	}
	select {
	case <-m.exited:
	case <-ctx.Done():
		m.Close()
		return fmt.Errorf("harness: %s: poweroff: %w", m.name, ctx.Err())
	}
	return m.Close()
}
