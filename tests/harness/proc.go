package harness

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// procStat is what the harness needs from /proc/PID/stat.
type procStat struct {
	comm      string
	state     string // R, S, D, Z...
	ppid      int
	pgrp      int
	starttime uint64 // clock ticks after boot; with the PID it names a process uniquely
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// comm is in parentheses and may contain spaces and ')'.
	open, closing := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	fields := strings.Fields(string(b[closing+1:]))
	// fields[0] is field 3 (state); ppid is field 4, starttime field 22.
	if len(fields) < 20 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	ppid, err1 := strconv.Atoi(fields[1])
	pgrp, err3 := strconv.Atoi(fields[2])
	start, err2 := strconv.ParseUint(fields[19], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return procStat{comm: string(b[open+1 : closing]), state: fields[0], ppid: ppid, pgrp: pgrp, starttime: start}, nil
}

// sameProcess reports whether pid still names the process that had starttime.
func sameProcess(pid int, starttime uint64) bool {
	st, err := readStat(pid)
	return err == nil && st.starttime == starttime
}

// childNamed returns a child of parent whose comm is name, or 0.
func childNamed(parent int, name string) (int, uint64) {
	for _, pid := range children(parent) {
		if st, err := readStat(pid); err == nil && st.ppid == parent && st.comm == name {
			return pid, st.starttime
		}
	}
	return 0, 0
}

// children lists the children of pid, from /proc/PID/task/*/children when
// the kernel has it, else by scanning every process's parent.
func children(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if len(tasks) > 0 {
		var out []int
		for _, t := range tasks {
			b, err := os.ReadFile(t)
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				if n, err := strconv.Atoi(f); err == nil {
					out = append(out, n)
				}
			}
		}
		return out
	}
	var out []int
	for _, p := range allPIDs() {
		if st, err := readStat(p); err == nil && st.ppid == pid {
			out = append(out, p)
		}
	}
	return out
}

func allPIDs() []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, n)
		}
	}
	return out
}

var self struct {
	once sync.Once
	tag  string
}

// ownerTag names this process as "PID.STARTTIME": it marks the temp
// directories and processes of our machines so that Sweep can tell leftovers
// of dead processes from machines of live ones.
func ownerTag() string {
	self.once.Do(func() {
		pid := os.Getpid()
		st, err := readStat(pid)
		if err != nil {
			self.tag = strconv.Itoa(pid) + ".0"
			return
		}
		self.tag = fmt.Sprintf("%d.%d", pid, st.starttime)
	})
	return self.tag
}

// ownerAlive reports whether the process named by an owner tag still runs.
func ownerAlive(tag string) bool {
	pidStr, startStr, ok := strings.Cut(tag, ".")
	if !ok {
		return false
	}
	pid, err1 := strconv.Atoi(pidStr)
	start, err2 := strconv.ParseUint(startStr, 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 {
		return false
	}
	return sameProcess(pid, start)
}
