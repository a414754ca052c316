package harness

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// With --keep-unit, systemd-nspawn puts the guest under the cgroup it was
// started in ("payload" and "supervisor" below it). Two machines started
// from the same cgroup would then share one tree, and each guest's systemd
// would create, kill and remove the other's units' cgroups: early units of
// parallel boots failed at random. So every machine gets a cgroup of its own,
// named like its host directory, in each hierarchy nspawn uses: the unified
// (v2) one and, on hybrid and legacy hosts, name=systemd.

// cgroupHierarchy is a hierarchy this process belongs to.
type cgroupHierarchy struct {
	dir string // host directory of this process's cgroup in it
}

// ourCgroups returns the hierarchies nspawn uses that this process is in.
func ourCgroups() ([]cgroupHierarchy, error) {
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	mounts, err := cgroupMounts()
	if err != nil {
		return nil, err
	}
	var out []cgroupHierarchy
	for _, line := range strings.Split(strings.TrimSpace(string(self)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var key string
		switch {
		case parts[0] == "0" && parts[1] == "":
			key = "cgroup2"
		case parts[1] == "name=systemd":
			key = "name=systemd"
		default:
			continue
		}
		m, ok := mounts[key]
		if !ok || !strings.HasPrefix(parts[2], m.root) {
			continue
		}
		rel := strings.TrimPrefix(parts[2], m.root)
		out = append(out, cgroupHierarchy{dir: filepath.Join(m.point, rel)})
	}
	return out, nil
}

type cgroupMount struct{ root, point string }

// cgroupMounts finds the mounts of the cgroup2 and name=systemd hierarchies.
func cgroupMounts() (map[string]cgroupMount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]cgroupMount{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 {
			continue
		}
		m := cgroupMount{root: unescapeMountinfo(pf[3]), point: unescapeMountinfo(pf[4])}
		var key string
		switch {
		case qf[0] == "cgroup2":
			key = "cgroup2"
		case qf[0] == "cgroup" && containsOption(qf[2], "name=systemd"):
			key = "name=systemd"
		default:
			continue
		}
		if _, seen := out[key]; !seen {
			out[key] = m
		}
	}
	return out, sc.Err()
}

func containsOption(opts, opt string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == opt {
			return true
		}
	}
	return false
}

// makeCgroups creates the machine's cgroup (named name) in every hierarchy
// and returns the cgroup.procs files to move systemd-nspawn into.
func makeCgroups(name string) (dirs, procs []string, err error) {
	hs, err := ourCgroups()
	if err != nil {
		return nil, nil, err
	}
	for _, h := range hs {
		d := filepath.Join(h.dir, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			removeCgroups(dirs, 0)
			return nil, nil, err
		}
		dirs = append(dirs, d)
		procs = append(procs, filepath.Join(d, "cgroup.procs"))
	}
	return dirs, procs, nil
}

// removeCgroups removes cgroup trees, innermost first; while processes are
// still leaving (killed, not yet reaped) rmdir says EBUSY, so it retries for
// up to wait.
func removeCgroups(dirs []string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	var errs []error
	for _, d := range dirs {
		for {
			err := removeCgroupTree(d)
			if err == nil || errors.Is(err, fs.ErrNotExist) {
				break
			}
			if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
				errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return errors.Join(errs...)
}

func removeCgroupTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeCgroupTree(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	if err := unix.Rmdir(dir); err != nil {
		return &os.PathError{Op: "rmdir", Path: dir, Err: err}
	}
	return nil
}

// staleCgroups finds machine cgroups (named dirPrefix...) of dead owners in
// the hierarchies nspawn uses.
func staleCgroups() []string {
	mounts, err := cgroupMounts()
	if err != nil {
		return nil
	}
	var out []string
	for _, m := range mounts {
		filepath.WalkDir(m.point, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			if strings.Count(strings.TrimPrefix(p, m.point), "/") > 8 {
				return fs.SkipDir
			}
			if name := d.Name(); strings.HasPrefix(name, dirPrefix) {
				tag, _, _ := strings.Cut(strings.TrimPrefix(name, dirPrefix), "-")
				if staleTag(tag) {
					out = append(out, p)
				}
				return fs.SkipDir
			}
			return nil
		})
	}
	return out
}
