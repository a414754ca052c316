package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// stack is what startProxies started: the backend, and the routers and
// nginxes in front of it.
type stack struct {
	all  []*proc
	sock string // the backend's unix socket
}

// exited reports the first of the stack's processes that has ended.
func (s stack) exited() error {
	for _, p := range s.all {
		if err := p.exited(); err != nil {
			return err
		}
	}
	return nil
}

// startProxies starts, under dir, the backend (on a unix socket, and on
// TCP for the direct runs), nginx with 1 and 2 workers and the router with
// GOMAXPROCS=1 and 2, both reverse-proxying to the backend's unix socket,
// and waits until each answers. The throughput and syscalls sections
// measure the same stack.
func (b *bench) startProxies(ctx context.Context, dir string) ([]target, stack, error) {
	var st stack
	o := b.opts
	if err := ensureTools(ctx); err != nil {
		return nil, st, err
	}
	runDir := filepath.Join(dir, "run")
	for _, d := range []string{filepath.Join(dir, "etc/tenants"), filepath.Join(runDir, "acme")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, st, err
		}
	}
	// nginx's workers run as nobody: they need to traverse to the socket.
	for _, d := range []string{b.work, dir, runDir, filepath.Join(runDir, "acme")} {
		os.Chmod(d, 0o755)
	}
	manifest := "tenant: acme\napps:\n  web:\n    command: [/bin/true]\n    listen: activation\n    domains: [acme.test]\n"
	if err := os.WriteFile(filepath.Join(dir, "etc/tenants/acme.yaml"), []byte(manifest), 0o644); err != nil {
		return nil, st, err
	}
	ports, err := freePorts(5)
	if err != nil {
		return nil, st, err
	}
	sock := filepath.Join(runDir, "acme/web.sock")
	st.sock = sock
	self, err := os.Executable()
	if err != nil {
		return nil, st, err
	}
	backend, err := b.procs.start("backend", filepath.Join(dir, "backend.log"), nil,
		self, "backend", "-body", strconv.Itoa(o.body), "-tcp", fmt.Sprintf("127.0.0.1:%d", ports[0]), "-unix", sock)
	if err != nil {
		return nil, st, err
	}
	st.all = append(st.all, backend)
	routers := map[string]*proc{}
	// -goroutinepath: the same router with every connection on goroutines
	// (--loops 0), beside the one with its loops.
	gports, err := freePorts(2)
	if err != nil {
		return nil, st, err
	}
	goroutines := []string{"--loops", "0"}
	for _, c := range []struct {
		key, gomaxprocs string
		port            int
		args            []string
	}{{"router1", "1", ports[2], nil}, {"router2", "", ports[4], nil}, {"router1g", "1", gports[0], goroutines}, {"router2g", "", gports[1], goroutines}} {
		if c.args != nil && !o.goroutinePath {
			continue
		}
		var env []string
		if c.gomaxprocs != "" {
			env = []string{"GOMAXPROCS=" + c.gomaxprocs}
		}
		bin := filepath.Join(b.bin, "ehecoatl-router")
		if o.routerBin != "" {
			bin = o.routerBin
		}
		argv := []string{bin, "--listen", fmt.Sprintf("127.0.0.1:%d", c.port),
			"--manifests", filepath.Join(dir, "etc"), "--run-dir", runDir, "--access-log", "off", "--no-idle-stop"}
		argv = append(argv, c.args...)
		if o.routerProfile != "" {
			argv = append(argv, "--cpuprofile", filepath.Join(o.routerProfile, c.key+".pprof"))
		}
		p, err := b.procs.start(c.key, filepath.Join(dir, c.key+".log"), env, argv...)
		if err != nil {
			return nil, st, err
		}
		routers[c.key] = p
		st.all = append(st.all, p)
	}
	// router2m is router2 with a metrics socket as systemd passes it
	// (FileDescriptorName=metrics, here through systemd-socket-activate,
	// which execs the router on the first connection), scraped once a
	// second while wrk runs: issue 16's metrics on, against router2's
	// off (no metrics socket, never scraped). Both count every request:
	// the counters are not optional.
	mports, err := freePorts(2)
	if err != nil {
		return nil, st, err
	}
	bin := filepath.Join(b.bin, "ehecoatl-router")
	if o.routerBin != "" {
		bin = o.routerBin
	}
	withMetrics, err := b.procs.start("router2m", filepath.Join(dir, "router2m.log"), nil,
		"systemd-socket-activate", "-l", fmt.Sprintf("127.0.0.1:%d", mports[0]), "-l", fmt.Sprintf("127.0.0.1:%d", mports[1]),
		"--fdname=http:metrics", bin, "--manifests", filepath.Join(dir, "etc"), "--run-dir", runDir, "--access-log", "off", "--no-idle-stop")
	if err != nil {
		return nil, st, err
	}
	st.all = append(st.all, withMetrics)
	nginxes := map[string]*proc{}
	for _, c := range []struct {
		key     string
		workers int
		port    int
	}{{"nginx1", 1, ports[1]}, {"nginx2", 2, ports[3]}} {
		p, err := b.startNginx(dir, c.key, c.workers, c.port, sock)
		if err != nil {
			return nil, st, err
		}
		nginxes[c.key] = p
		st.all = append(st.all, p)
	}

	one := func(p *proc) func() []int { return func() []int { return []int{p.pid} } }
	withKids := func(p *proc) func() []int {
		return func() []int { return append([]int{p.pid}, childPIDs(p.pid)...) }
	}
	targets := []target{
		{"direct", "backend directly (TCP)", "-", ports[0], one(backend), 0},
		{"nginx1", "nginx, worker_processes 1", "1 CPU", ports[1], withKids(nginxes["nginx1"]), 0},
		{"router1", "router, GOMAXPROCS=1: 1 loop (it sets GOMAXPROCS 2)", "1 CPU", ports[2], one(routers["router1"]), 0},
		{"nginx2", "nginx, worker_processes 2", "2 CPUs", ports[3], withKids(nginxes["nginx2"]), 0},
		{"router2", "router, GOMAXPROCS=2: 2 loops (it sets 3)", "2 CPUs", ports[4], one(routers["router2"]), 0},
		{"router2m", "router, 2, metrics scraped 1/s", "2 CPUs", mports[0], one(withMetrics), mports[1]},
	}
	if o.goroutinePath {
		for i, g := range []target{
			{"router1g", "router, GOMAXPROCS=1, --loops 0", "1 CPU", gports[0], one(routers["router1g"]), 0},
			{"router2g", "router, 2, --loops 0", "2 CPUs", gports[1], one(routers["router2g"]), 0},
		} {
			at := slices.IndexFunc(targets, func(x target) bool { return x.key == []string{"router1", "router2"}[i] }) + 1
			targets = slices.Insert(targets, at, g)
		}
	}
	if o.epollRef {
		refs, err := b.startEpollRefs(dir, sock)
		if err != nil {
			return nil, st, err
		}
		for _, r := range refs {
			st.all = append(st.all, r.p)
			t := target{r.key, r.label, r.cpus, r.port, one(r.p), 0}
			// Beside the router of its CPU configuration.
			at := slices.IndexFunc(targets, func(x target) bool { return x.key == r.after }) + 1
			for at < len(targets) && strings.HasPrefix(targets[at].key, "epoll") {
				at++
			}
			targets = slices.Insert(targets, at, t)
		}
	}
	want := strings.Repeat("a", o.body)
	for _, t := range targets {
		if err := waitBody(ctx, t.port, "acme.test", want, 10*time.Second); err != nil {
			if e := st.exited(); e != nil {
				err = fmt.Errorf("%w; %v", err, e)
			}
			return nil, st, fmt.Errorf("%s on 127.0.0.1:%d: %w", t.label, t.port, err)
		}
	}
	return targets, st, nil
}

// epollRef is one started epoll reference proxy (-epollref).
type epollRef struct {
	key, label, cpus, after string
	port                    int
	p                       *proc
}

// startEpollRefs starts tests/benchrouter/epollproxy in front of the
// backend's socket: epoll1 (1 loop, GOMAXPROCS=1) and epoll2 (2 loops,
// GOMAXPROCS default), and with -epollraw the same with -raw.
func (b *bench) startEpollRefs(dir, sock string) ([]epollRef, error) {
	type variant struct {
		key, label, cpus, after, loops string
		raw                            bool
	}
	vs := []variant{
		{"epoll1", "epollref, 1 loop, GOMAXPROCS=1", "1 CPU", "router1", "1", false},
		{"epoll2", "epollref, 2 loops", "2 CPUs", "router2", "2", false},
	}
	if b.opts.epollRaw {
		vs = append(vs,
			variant{"epoll1raw", "epollref -raw, 1 loop", "1 CPU", "router1", "1", true},
			variant{"epoll2raw", "epollref -raw, 2 loops", "2 CPUs", "router2", "2", true})
	}
	ports, err := freePorts(len(vs))
	if err != nil {
		return nil, err
	}
	var out []epollRef
	for i, v := range vs {
		var env []string
		if v.loops == "1" {
			env = []string{"GOMAXPROCS=1"}
		}
		argv := []string{filepath.Join(b.bin, "epollproxy"), "-listen", fmt.Sprintf("127.0.0.1:%d", ports[i]),
			"-route", "acme.test=" + sock, "-loops", v.loops}
		if v.raw {
			argv = append(argv, "-raw")
		}
		p, err := b.procs.start(v.key, filepath.Join(dir, v.key+".log"), env, argv...)
		if err != nil {
			return nil, err
		}
		out = append(out, epollRef{v.key, v.label, v.cpus, v.after, ports[i], p})
	}
	return out, nil
}
