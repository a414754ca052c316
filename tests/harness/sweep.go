package harness

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Sweep removes what earlier runs left behind when they died without
// tearing down (SIGKILL, a panic in a signal handler, a crash between two
// steps of Boot): processes marked with EHECOATL_HARNESS_OWNER (nspawn and
// guest PID 1s) and mounts and directories named ehecoatl-machine-* whose
// owning process is gone. Machines of live processes, this one included, are
// never touched, so parallel test binaries are safe. Boot calls it first.
func Sweep() error { return sweep(lineWriter{}) }

func sweep(out lineWriter) error {
	var errs []error
	if err := sweepProcesses(out); err != nil {
		errs = append(errs, err)
	}
	if err := sweepMounts(out); err != nil {
		errs = append(errs, err)
	}
	for _, cg := range staleCgroups() {
		if err := removeCgroups([]string{cg}, time.Second); err != nil {
			errs = append(errs, fmt.Errorf("sweep: %w", err))
			continue
		}
		out.printf("sweep: removed leftover cgroup %s", cg)
	}
	sweepPropagate(out)
	return errors.Join(errs...)
}

// propagateDir is where systemd-nspawn keeps a directory per machine; one
// killed before its own cleanup leaves it behind.
const propagateDir = "/run/systemd/nspawn/propagate"

// sweepPropagate removes empty propagate directories of default-named
// machines for which no systemd-nspawn runs. The directory is listed before
// the processes: an nspawn that created an entry already shows up.
func sweepPropagate(out lineWriter) {
	entries, err := os.ReadDir(propagateDir)
	if err != nil {
		return
	}
	running := map[string]bool{}
	for _, pid := range allPIDs() {
		cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil || !bytes.Contains(cmdline, []byte("nspawn")) {
			continue
		}
		for _, arg := range bytes.Split(cmdline, []byte{0}) {
			if name, ok := bytes.CutPrefix(arg, []byte("--machine=")); ok {
				running[string(name)] = true
			}
		}
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), defaultNamePrefix) && !running[e.Name()] {
			if os.Remove(filepath.Join(propagateDir, e.Name())) == nil {
				out.printf("sweep: removed leftover %s", filepath.Join(propagateDir, e.Name()))
			}
		}
	}
}

// staleTag returns the owner tag if it names a process that is gone.
func staleTag(tag string) bool {
	return tag != "" && tag != ownerTag() && !ownerAlive(tag)
}

func sweepProcesses(out lineWriter) error {
	type victim struct {
		pid   int
		start uint64
	}
	var victims []victim
	needle := []byte(markerVar + "=")
	for _, pid := range allPIDs() {
		env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if err != nil || !bytes.Contains(env, needle) {
			continue
		}
		var tag string
		for _, kv := range bytes.Split(env, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, needle); ok {
				tag = string(v)
			}
		}
		if !staleTag(tag) {
			continue
		}
		st, err := readStat(pid)
		if err != nil {
			continue
		}
		// SIGKILL: a guest PID 1 takes its whole PID namespace with it.
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			out.printf("sweep: killed leftover %s (PID %d) of dead process %s", st.comm, pid, tag)
			victims = append(victims, victim{pid, st.starttime})
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, v := range victims {
		for alive(v.pid, v.start) {
			if time.Now().After(deadline) {
				return fmt.Errorf("sweep: PID %d survives SIGKILL", v.pid)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return nil
}

func sweepMounts(out lineWriter) error {
	var errs []error
	stale := map[string]bool{} // machine directory -> stale
	var points []string
	mounts, err := mountPoints()
	if err != nil {
		return err
	}
	for _, p := range mounts {
		dir, tag, ok := machineDir(p)
		if !ok || !staleTag(tag) {
			continue
		}
		stale[dir] = true
		points = append(points, p)
	}
	// Innermost first.
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			errs = append(errs, fmt.Errorf("sweep: unmount %s: %w", p, err))
			continue
		}
		out.printf("sweep: unmounted leftover %s", p)
	}
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, d := range dirs {
		if _, tag, ok := machineDir(d); ok && staleTag(tag) {
			stale[d] = true
		}
	}
	for d := range stale {
		if len(errs) > 0 {
			break // something is still mounted: removing could reach into it
		}
		// Only empty directories are removed (rmdir): below a mount that is
		// still attached somewhere, nothing must ever be deleted.
		for _, sub := range []string{"upper", "work", "root"} {
			os.Remove(filepath.Join(d, sub))
		}
		if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("sweep: %w", err))
			continue
		}
		out.printf("sweep: removed leftover %s", d)
	}
	return errors.Join(errs...)
}

// machineDir finds the machine directory in a path (.../ehecoatl-machine-
// OWNER-RANDOM[/...]) and the owner tag in its name.
func machineDir(p string) (dir, tag string, ok bool) {
	i := strings.Index(p, "/"+dirPrefix)
	if i < 0 {
		return "", "", false
	}
	rest := p[i+1+len(dirPrefix):]
	name, _, _ := strings.Cut(rest, "/")
	tag, _, ok = strings.Cut(name, "-")
	if !ok {
		return "", "", false
	}
	return p[:i+1+len(dirPrefix)+len(name)], tag, true
}

// alive reports whether a process exists and is not a zombie (a killed
// process whose parent has not reaped it yet holds nothing).
func alive(pid int, start uint64) bool {
	st, err := readStat(pid)
	return err == nil && st.starttime == start && st.state != "Z"
}

// mountPoints lists the mount points of this process's mount namespace.
func mountPoints() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			out = append(out, unescapeMountinfo(fields[4]))
		}
	}
	return out, sc.Err()
}

// unescapeMountinfo undoes the octal escapes (\040 for space...) of mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
