package usage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// Cgroup is what one unit's cgroup holds. A nil field is a file the
// cgroup does not have: memory.peak before Linux 5.19, io.stat without the
// io controller in the parent's subtree_control, a limit that is "max".
// Nothing is invented for it.
type Cgroup struct {
	CPUUsec      *uint64 // cpu.stat usage_usec
	MemoryBytes  *uint64 // memory.current
	MemoryPeak   *uint64 // memory.peak
	MemoryMax    *uint64 // memory.max, nil for "max"
	Tasks        *uint64 // pids.current
	TasksMax     *uint64 // pids.max, nil for "max"
	CPUQuota     *float64
	IOReadBytes  *uint64 // io.stat rbytes, summed over devices
	IOWriteBytes *uint64 // io.stat wbytes, summed over devices
}

// DefaultCgroupRoot is where the cgroup v2 hierarchy is mounted:
// /sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host (systemd's
// v2 tree beside v1 controllers: containers such as systemd-nspawn on
// such a host; preflight refuses those for production, since no limit is
// enforced there, but its CPU time is still read).
func DefaultCgroupRoot() string {
	const root = "/sys/fs/cgroup"
	if _, err := os.Stat(root + "/cgroup.controllers"); err == nil {
		return root
	}
	if _, err := os.Stat(root + "/unified/cgroup.controllers"); err == nil {
		return root + "/unified"
	}
	return root
}

// reader reads cgroups with one buffer: per cgroup one open of its
// directory, then per file openat, one read, close (files of the cgroup
// file system are produced whole by one read of a buffer that holds them).
type reader struct {
	buf []byte
}

func newReader() *reader { return &reader{buf: make([]byte, 16<<10)} }

// read returns the cgroup at dir, or nil when dir does not exist (the
// unit has no cgroup: inactive, or not accounted).
func (r *reader) read(dir string) (*Cgroup, error) {
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil, nil
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(dfd)
	var c Cgroup
	for _, f := range cgroupFiles {
		b, err := r.file(dfd, f.name)
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: filepath.Join(dir, f.name), Err: err}
		}
		if b != nil {
			f.parse(b, &c)
		}
	}
	return &c, nil
}

// cgroupFiles are the files read of each cgroup and how.
var cgroupFiles = []struct {
	name  string
	parse func([]byte, *Cgroup)
}{
	{"cpu.stat", func(b []byte, c *Cgroup) { c.CPUUsec = keyed(b, "usage_usec") }},
	{"memory.current", func(b []byte, c *Cgroup) { c.MemoryBytes = number(b) }},
	{"memory.peak", func(b []byte, c *Cgroup) { c.MemoryPeak = number(b) }},
	{"memory.max", func(b []byte, c *Cgroup) { c.MemoryMax = number(b) }},
	{"pids.current", func(b []byte, c *Cgroup) { c.Tasks = number(b) }},
	{"pids.max", func(b []byte, c *Cgroup) { c.TasksMax = number(b) }},
	{"cpu.max", func(b []byte, c *Cgroup) { c.CPUQuota = quota(b) }},
	{"io.stat", func(b []byte, c *Cgroup) { c.IOReadBytes, c.IOWriteBytes = ioStat(b) }},
}

// file reads name below dfd; nil without error when it does not exist.
func (r *reader) file(dfd int, name string) ([]byte, error) {
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	n := 0
	for {
		m, err := unix.Read(fd, r.buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			// A cgroup removed between open and read (the unit stopped).
			if errors.Is(err, unix.ENODEV) {
				return nil, nil
			}
			return nil, err
		}
		n += m
		if m == 0 || n < len(r.buf) {
			return r.buf[:n], nil
		}
		r.buf = append(r.buf, make([]byte, len(r.buf))...)
	}
}

// number parses a file of one unsigned number; nil for "max" or garbage.
func number(b []byte) *uint64 {
	n, err := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64)
	if err != nil {
		return nil
	}
	return &n
}

// keyed finds "key N" among the lines of a flat-keyed file (cpu.stat).
func keyed(b []byte, key string) *uint64 {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		k, v, ok := bytes.Cut(line, []byte{' '})
		if ok && string(k) == key {
			return number(v)
		}
	}
	return nil
}

// quota reads cpu.max, "QUOTA PERIOD" in microseconds or "max PERIOD",
// as a fraction of one CPU (CPUQuota=150% is 1.5); nil when unlimited.
func quota(b []byte) *float64 {
	q, p, ok := bytes.Cut(bytes.TrimSpace(b), []byte{' '})
	if !ok {
		return nil
	}
	qn, err1 := strconv.ParseUint(string(q), 10, 64)
	pn, err2 := strconv.ParseUint(string(p), 10, 64)
	if err1 != nil || err2 != nil || pn == 0 {
		return nil
	}
	r := float64(qn) / float64(pn)
	return &r
}

// ioStat sums rbytes and wbytes over the devices of io.stat, lines of
// "MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N". A cgroup
// that did no IO has an empty io.stat: both are 0 then. nil when a line
// cannot be read.
func ioStat(b []byte) (rd, wr *uint64) {
	var r, w uint64
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		fields := bytes.Fields(line)
		for _, f := range fields[min(1, len(fields)):] {
			k, v, ok := bytes.Cut(f, []byte{'='})
			if !ok {
				return nil, nil
			}
			var sum *uint64
			switch string(k) {
			case "rbytes":
				sum = &r
			case "wbytes":
				sum = &w
			default:
				continue
			}
			n := number(v)
			if n == nil {
				return nil, nil
			}
			*sum += *n
		}
	}
	return &r, &w
}
