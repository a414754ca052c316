package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// sysLoad is one wrk load of the syscalls section.
type sysLoad struct {
	name, desc string
	conns      int
	extra      []string // more wrk options
}

// sysProfile is what one target did under one load.
type sysProfile struct {
	// Calls and failed calls (strace: any failure; perf: EAGAIN of
	// eagainSyscalls) by system call, and the requests wrk completed
	// meanwhile.
	reqs          int64
	calls, errors map[string]int64
	// Voluntary and involuntary context switches of every thread per
	// request, and the rate, from a run without strace (ptrace stops
	// distort scheduling).
	vol, invol float64
	rps        float64
}

func (p sysProfile) total() (calls int64) {
	for _, n := range p.calls {
		calls += n
	}
	return calls
}

func (p sysProfile) per(name string) float64 {
	if p.reqs == 0 {
		return 0
	}
	return float64(p.calls[name]) / float64(p.reqs)
}

// syscalls is the section "syscalls" (not run by default: -sections
// syscalls): system calls and context switches per proxied request of the
// router and of nginx on the same stack as the throughput section, under
// keep-alive load and with a new connection per request. Counts per
// request hardly depend on what else the machine runs, so unlike the
// throughput figures they can be compared across runs on a busy machine.
// perf on the syscall tracepoints costs the counted processes little;
// without tracefs the section falls back to strace, whose ptrace stops
// slow the traced process several times over (more requests gather per
// wake-up than at full speed; both proxies are slowed alike, and the
// context switches then come from a run without it).
func (b *bench) syscalls(ctx context.Context) error {
	o := b.opts
	usePerf := perfSyscalls()
	how := "perf stat on the syscall tracepoints, in the same run as the context switches from /proc"
	if !usePerf {
		how = "strace -c -f in a second run, context switches from /proc in a run without it (perf counts with less distortion once tracefs is mounted: mount -t tracefs nodev /sys/kernel/tracing)"
		if _, err := exec.LookPath("strace"); err != nil {
			return fmt.Errorf("neither perf with syscall tracepoints nor strace: %w (apt-get install strace)", err)
		}
	}
	fmt.Printf("\n=== syscalls per proxied request (wrk -t2, %ds per load and target) ===\n%s\n", o.sysSecs, how)
	targets, st, err := b.startProxies(ctx, filepath.Join(b.work, "syscalls"))
	if err != nil {
		return err
	}
	targets = slices.DeleteFunc(targets, func(t target) bool { return t.key == "direct" || t.key == "router2m" })
	loads := []sysLoad{
		{"keep-alive", fmt.Sprintf("wrk -c%d, keep-alive", o.conns), o.conns, nil},
		{"new connections", "wrk -c16 -H 'Connection: close': one request per connection", 16, []string{"-H", "Connection: close"}},
	}
	for _, l := range loads {
		prof := map[string]sysProfile{}
		for _, t := range targets {
			if _, err := runWrkArgs(ctx, t, 1, l.conns, wrkURL(t), "acme.test", nil, l.extra); err != nil {
				return err
			}
			p, err := profileTarget(ctx, t, l, o.sysSecs, filepath.Join(b.work, "syscalls", t.key+".counts"), usePerf)
			if err != nil {
				return err
			}
			prof[t.key] = p
		}
		printSysTable(l, targets, prof)
		pairs := [][2]string{{"nginx1", "router1"}, {"nginx2", "router2"}}
		for _, k := range []string{"epoll1", "epoll1raw", "epoll2", "epoll2raw"} {
			if _, ok := prof[k]; ok {
				pairs = append(pairs, [2]string{"nginx" + k[5:6], k})
			}
		}
		for _, c := range pairs {
			n, r := prof[c[0]], prof[c[1]]
			cpus := targets[slices.IndexFunc(targets, func(t target) bool { return t.key == c[0] })].cpus
			who := "router"
			switch {
			case strings.HasSuffix(c[1], "raw"):
				who = "epollref -raw"
			case strings.HasPrefix(c[1], "epoll"):
				who = "epollref"
			}
			b.sum.info("syscalls", fmt.Sprintf("%s, %s: syscalls/req %s, nginx", l.name, cpus, who),
				fmt.Sprintf("%.2f, %.2f", float64(r.total())/float64(r.reqs), float64(n.total())/float64(n.reqs)))
			b.sum.info("syscalls", fmt.Sprintf("%s, %s: context switches/req %s, nginx", l.name, cpus, who),
				fmt.Sprintf("%.2f, %.2f", r.vol+r.invol, n.vol+n.invol))
		}
	}
	return st.exited()
}

func wrkURL(t target) string { return fmt.Sprintf("http://127.0.0.1:%d/", t.port) }

// tracedSyscalls are the system calls counted one by one with perf;
// raw_syscalls:sys_enter counts them all, and the difference is the row
// "other".
var tracedSyscalls = []string{
	"read", "write", "readv", "writev", "recvfrom", "sendto", "recvmsg", "sendmsg",
	"epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_ctl", "futex", "nanosleep", "clock_nanosleep",
	"sched_yield", "setsockopt", "getsockopt", "getsockname", "getpeername", "accept4", "accept",
	"close", "shutdown", "fcntl", "ioctl", "connect", "socket", "tgkill", "getpid", "rt_sigreturn",
	"rt_sigprocmask", "madvise", "mmap", "munmap", "openat", "newfstatat", "fstat", "brk",
	"sendfile64", "splice", "io_uring_enter", "clone", "clone3", "gettid", "getrandom",
}

// eagainSyscalls also have their EAGAIN results counted: a read that
// found nothing is what an event loop that tracks readiness avoids.
var eagainSyscalls = []string{"read", "recvfrom", "accept4"}

const tracefs = "/sys/kernel/tracing/events/syscalls"

// perfSyscalls reports whether perf can count syscall tracepoints (they
// need tracefs mounted).
func perfSyscalls() bool {
	if _, err := exec.LookPath("perf"); err != nil {
		return false
	}
	_, err := os.Stat(filepath.Join(tracefs, "sys_enter_read"))
	return err == nil
}

// profileTarget measures t under l in one run: context switches from
// /proc and, with perf, system calls; without perf, system calls in a
// second run under strace attached to every process of t.
func profileTarget(ctx context.Context, t target, l sysLoad, secs int, out string, usePerf bool) (sysProfile, error) {
	var p sysProfile
	var stop func() error
	if usePerf {
		var err error
		if stop, err = startPerf(ctx, t.pids(), out); err != nil {
			return p, err
		}
	}
	v0, i0 := ctxSwitches(t.pids())
	w, err := runWrkArgs(ctx, t, secs, l.conns, wrkURL(t), "acme.test", nil, l.extra)
	v1, i1 := ctxSwitches(t.pids())
	if usePerf {
		if serr := stop(); err == nil {
			err = serr
		}
	}
	if err != nil {
		return p, err
	}
	if w.requests > 0 {
		p.vol, p.invol = float64(v1-v0)/float64(w.requests), float64(i1-i0)/float64(w.requests)
	}
	p.rps = w.rps
	if usePerf {
		p.reqs = w.requests
		p.calls, p.errors, err = parsePerfStat(out)
		return p, err
	}
	p.reqs, p.calls, p.errors, err = straceRun(ctx, t, l, secs, out)
	return p, err
}

// startPerf starts perf stat counting the system calls of pids (and their
// threads); stop ends it and waits for its report.
func startPerf(ctx context.Context, pids []int, out string) (stop func() error, err error) {
	argv := []string{"stat", "-x", ";", "-o", out, "-e", "raw_syscalls:sys_enter"}
	for _, n := range tracedSyscalls {
		if _, err := os.Stat(filepath.Join(tracefs, "sys_enter_"+n)); err == nil {
			argv = append(argv, "-e", "syscalls:sys_enter_"+n)
		}
	}
	for _, n := range eagainSyscalls {
		argv = append(argv, "-e", "syscalls:sys_exit_"+n, "--filter", fmt.Sprintf("ret == -%d", int(syscall.EAGAIN)))
	}
	var ps []string
	for _, pid := range pids {
		ps = append(ps, strconv.Itoa(pid))
	}
	argv = append(argv, "-p", strings.Join(ps, ","))
	cmd := exec.CommandContext(ctx, "perf", argv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var msgs strings.Builder
	cmd.Stdout, cmd.Stderr = &msgs, &msgs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("perf: %w", err)
	}
	time.Sleep(300 * time.Millisecond) // opening the counters of every thread
	return func() error {
		cmd.Process.Signal(syscall.SIGINT) // perf stat reports on SIGINT
		if err := cmd.Wait(); err != nil && !strings.Contains(err.Error(), "interrupt") {
			return fmt.Errorf("perf stat: %v\n%s", err, msgs.String())
		}
		return nil
	}, nil
}

// parsePerfStat reads perf stat -x ';' output: COUNT;UNIT;EVENT;...
func parsePerfStat(path string) (calls, errs map[string]int64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	calls, errs = map[string]int64{}, map[string]int64{}
	var total, listed int64
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ";")
		if len(f) < 3 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue // <not counted>, comments
		}
		switch ev := f[2]; {
		case ev == "raw_syscalls:sys_enter":
			total = n
		case strings.HasPrefix(ev, "syscalls:sys_enter_"):
			if n > 0 {
				calls[strings.TrimPrefix(ev, "syscalls:sys_enter_")] = n
			}
			listed += n
		case strings.HasPrefix(ev, "syscalls:sys_exit_"):
			if n > 0 {
				errs[strings.TrimPrefix(ev, "syscalls:sys_exit_")] = n
			}
		}
	}
	if total == 0 {
		return nil, nil, fmt.Errorf("%s: no perf counts", path)
	}
	if total > listed {
		calls["other"] = total - listed
	}
	return calls, errs, nil
}

// straceRun counts the system calls of t in a run of wrk under strace
// -c -f, which reports failed calls of every kind.
func straceRun(ctx context.Context, t target, l sysLoad, secs int, out string) (reqs int64, calls, errs map[string]int64, err error) {
	// -f with -p attaches every thread of each process and follows new
	// ones (Go starts threads as it needs them).
	argv := []string{"-c", "-f", "-o", out}
	for _, pid := range t.pids() {
		argv = append(argv, "-p", strconv.Itoa(pid))
	}
	cmd := exec.CommandContext(ctx, "strace", argv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return 0, nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return 0, nil, nil, fmt.Errorf("strace: %w", err)
	}
	attached := make(chan struct{})
	var msgs strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			msgs.WriteString(sc.Text() + "\n")
			if !once && strings.Contains(sc.Text(), "attached") {
				once = true
				close(attached)
			}
		}
		if !once {
			close(attached)
		}
	}()
	select {
	case <-attached:
	case <-time.After(5 * time.Second):
	}
	time.Sleep(200 * time.Millisecond) // the other processes' attach messages
	w, err := runWrkArgs(ctx, t, secs, l.conns, wrkURL(t), "acme.test", nil, l.extra)
	cmd.Process.Signal(syscall.SIGINT) // detach and write the summary
	werr := cmd.Wait()
	if err != nil {
		return 0, nil, nil, err
	}
	if werr != nil && !strings.Contains(werr.Error(), "interrupt") {
		return 0, nil, nil, fmt.Errorf("strace %s: %v\n%s", t.label, werr, msgs.String())
	}
	calls, errs, err = parseStraceSummary(out)
	return w.requests, calls, errs, err
}

// parseStraceSummary reads the table strace -c writes:
//
//	% time     seconds  usecs/call     calls    errors syscall
//	------ ----------- ----------- --------- --------- ----------------
//	 41.08    0.301077           4     66049     33021 read
func parseStraceSummary(path string) (calls, errs map[string]int64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	calls, errs = map[string]int64{}, map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || f[len(f)-1] == "total" {
			continue
		}
		if _, err := strconv.ParseFloat(f[0], 64); err != nil {
			continue
		}
		n, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil {
			continue
		}
		calls[f[len(f)-1]] = n
		if len(f) == 6 {
			e, _ := strconv.ParseInt(f[4], 10, 64)
			errs[f[len(f)-1]] = e
		}
	}
	if len(calls) == 0 {
		return nil, nil, fmt.Errorf("%s: no strace summary", path)
	}
	return calls, errs, nil
}

// printSysTable prints calls per request by system call, the most frequent
// first, with failed calls (EAGAIN, mostly) in parentheses.
func printSysTable(l sysLoad, ts []target, prof map[string]sysProfile) {
	fmt.Printf("\n%s (%s): calls per proxied request (in parentheses those that failed: EAGAIN with perf, any error with strace)\n", l.name, l.desc)
	names := map[string]float64{}
	for _, t := range ts {
		p := prof[t.key]
		for n := range p.calls {
			names[n] = max(names[n], p.per(n))
		}
	}
	var order []string
	for n, v := range names {
		if v >= 0.005 {
			order = append(order, n)
		}
	}
	slices.SortFunc(order, func(a, b string) int {
		if names[a] != names[b] {
			if names[a] > names[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	fmt.Printf("%-22s", "syscall")
	for _, t := range ts {
		fmt.Printf(" %18s", t.key)
	}
	fmt.Println()
	cell := func(calls, errs int64, reqs int64) string {
		if reqs == 0 {
			return "-"
		}
		s := fmt.Sprintf("%.2f", float64(calls)/float64(reqs))
		if errs > 0 {
			s += fmt.Sprintf(" (%.2f)", float64(errs)/float64(reqs))
		}
		return s
	}
	for _, n := range order {
		fmt.Printf("%-22s", n)
		for _, t := range ts {
			p := prof[t.key]
			fmt.Printf(" %18s", cell(p.calls[n], p.errors[n], p.reqs))
		}
		fmt.Println()
	}
	row := func(name string, f func(p sysProfile) string) {
		fmt.Printf("%-22s", name)
		for _, t := range ts {
			fmt.Printf(" %18s", f(prof[t.key]))
		}
		fmt.Println()
	}
	row("total", func(p sysProfile) string {
		var e int64
		for _, n := range p.errors {
			e += n
		}
		return cell(p.total(), e, p.reqs)
	})
	row("requests counted", func(p sysProfile) string { return strconv.FormatInt(p.reqs, 10) })
	row("ctx switches vol.", func(p sysProfile) string { return fmt.Sprintf("%.2f", p.vol) })
	row("ctx switches invol.", func(p sysProfile) string { return fmt.Sprintf("%.2f", p.invol) })
	row("req/s", func(p sysProfile) string { return fmt.Sprintf("%.0f", p.rps) })
}

// ctxSwitches sums the voluntary and involuntary context switches of every
// thread of pids (/proc/PID/task/TID/status). A voluntary one is a thread
// that blocked (epoll_wait, futex, nanosleep) and was woken again.
func ctxSwitches(pids []int) (vol, invol int64) {
	for _, pid := range pids {
		files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			for _, l := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(l, "voluntary_ctxt_switches:"); ok {
					n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
					vol += n
				} else if v, ok := strings.CutPrefix(l, "nonvoluntary_ctxt_switches:"); ok {
					n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
					invol += n
				}
			}
		}
	}
	return vol, invol
}
