package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// target is one endpoint wrk measures.
type target struct {
	key   string // direct, nginx1, router1, nginx2, router2, router2m; epoll1, epoll2 (-epollref)
	label string
	cpus  string // the CPU configuration it belongs to
	port  int
	pids  func() []int // processes whose CPU time is charged to it
	// metrics is the port of its metrics socket, scraped once a second
	// during its runs (0: none).
	metrics int
}

// wrkResult is one wrk run.
type wrkResult struct {
	rps, p50, p99 float64 // requests/s, latencies in ms
	requests      int64
	bad           int64   // non-2xx answers and socket errors
	cpuPerReq     float64 // µs of CPU of the target's processes per request
}

// throughput is section 1: wrk with keep-alive against the backend
// directly, nginx and the router, both reverse-proxying to the backend's
// unix socket, in two CPU configurations, interleaved round by round.
func (b *bench) throughput(ctx context.Context) error {
	o := b.opts
	fmt.Printf("\n=== 1. throughput and latency (wrk -t2 -c%d -d%ds, keep-alive, %d rounds, %d-byte body) ===\n", o.conns, o.secs, o.rounds, o.body)
	targets, stack, err := b.startProxies(ctx, filepath.Join(b.work, "throughput"))
	if err != nil {
		return err
	}
	fmt.Printf("backend: one process (router/testdata/bench/backend's handler) on %s and on 127.0.0.1:%d for the direct runs (wrk speaks only TCP)\n", stack.sock, targets[0].port)
	fmt.Printf("nginx: upstream keepalive 128 to the unix socket, X-Forwarded-* set, access_log off; router: --access-log off, defaults otherwise\n")
	fmt.Printf("CPU match: nginx worker_processes 1 vs router GOMAXPROCS=1, and 2 vs 2 (the default here); all share the machine's %d CPUs with wrk (2 threads) and the backend (GOMAXPROCS default)\n", runtime.NumCPU())
	fmt.Printf("CPU µs/req: user+system time of the measured process(es) during the run (router; nginx master+workers; backend for direct) / requests\n")

	// Warm-up, discarded: connections, pools, page cache.
	for _, t := range targets {
		if _, err := runWrk(ctx, t, 1, o.conns); err != nil {
			return err
		}
	}
	res := map[string][]wrkResult{}
	fmt.Printf("%-6s %-32s %10s %9s %9s %11s %5s\n", "round", "target", "req/s", "p50", "p99", "CPU µs/req", "bad")
	var scrapes, badScrapes int
	for r := 1; r <= o.rounds; r++ {
		// Every other round runs the targets the other way round, so that
		// no target always follows the same one (a pair measured back to
		// back, as router2 and router2m, otherwise carries the order's
		// bias into its ratio).
		order := slices.Clone(targets)
		if r%2 == 0 {
			slices.Reverse(order)
		}
		for _, t := range order {
			stop := scrapeEverySecond(t.metrics, &scrapes, &badScrapes)
			w, err := runWrk(ctx, t, o.secs, o.conns)
			stop()
			if err != nil {
				return err
			}
			res[t.key] = append(res[t.key], w)
			fmt.Printf("%-6d %-32s %10.0f %9s %9s %11.1f %5d\n", r, t.label, w.rps, fmtMS(w.p50), fmtMS(w.p99), w.cpuPerReq, w.bad)
		}
	}

	type med struct{ rps, p50, p99, cpu float64 }
	meds := map[string]med{}
	fmt.Printf("\nmedians of %d rounds:\n", o.rounds)
	for _, t := range targets {
		var rps, p50, p99, cpu []float64
		var bad int64
		for _, w := range res[t.key] {
			rps, p50, p99, cpu = append(rps, w.rps), append(p50, w.p50), append(p99, w.p99), append(cpu, w.cpuPerReq)
			bad += w.bad
		}
		m := med{median(rps), median(p50), median(p99), median(cpu)}
		meds[t.key] = m
		fmt.Printf("  %-32s %10.0f req/s  p50 %9s  p99 %9s  %6.1f µs CPU/req\n", t.label, m.rps, fmtMS(m.p50), fmtMS(m.p99), m.cpu)
		b.sum.info("throughput", t.label, fmt.Sprintf("%.0f req/s, p50 %.2f / p99 %.2f ms, %.1f µs CPU/req", m.rps, m.p50, m.p99, m.cpu))
		if bad > 0 {
			b.sum.check("throughput", t.key+": errors + non-2xx answers", strconv.FormatInt(bad, 10), "0", false)
		}
	}
	// Issue 16: metrics cost little. The same binary, counting in both;
	// router2m also serves its metrics socket and is scraped.
	on, off := meds["router2m"], meds["router2"]
	mr := on.rps / off.rps
	fmt.Printf("2 CPUs: router metrics on (scraped 1/s, %d scrapes, %d failed) / off: throughput %s, CPU/req %s, p99 %s\n",
		scrapes, badScrapes, fmtRatio(mr), fmtRatio(on.cpu/off.cpu), fmtRatio(on.p99/off.p99))
	b.sum.check("throughput", "2 CPUs: router metrics on/off req/s", fmtRatio(mr), ">= 0.97x", mr >= 0.97)
	if badScrapes > 0 || scrapes == 0 {
		b.sum.check("throughput", "metrics scrapes failed", fmt.Sprintf("%d of %d", badScrapes, scrapes), "0", false)
	}
	d := meds["direct"]
	for _, c := range []struct{ n, r, cpus string }{{"nginx1", "router1", "1 CPU"}, {"nginx2", "router2", "2 CPUs"}} {
		n, r := meds[c.n], meds[c.r]
		tr, pr := r.rps/n.rps, r.p99/n.p99
		fmt.Printf("%s: router/nginx throughput %s, p99 %s, p50 %s, CPU/req %s; nginx/direct %s; router/direct %s (throughput)\n",
			c.cpus, fmtRatio(tr), fmtRatio(pr), fmtRatio(r.p50/n.p50), fmtRatio(r.cpu/n.cpu), fmtRatio(n.rps/d.rps), fmtRatio(r.rps/d.rps))
		// The targets of the router issue's performance table: ahead of
		// nginx on throughput at both CPU configurations, no more CPU per
		// request, a p99 within 10%.
		cr := r.cpu / n.cpu
		b.sum.check("throughput", c.cpus+": router/nginx req/s", fmtRatio(tr), ">= 1.05x", tr >= 1.05)
		b.sum.check("throughput", c.cpus+": router/nginx CPU/req", fmtRatio(cr), "<= 1.00x", cr <= 1.0)
		b.sum.check("throughput", c.cpus+": router/nginx p99", fmtRatio(pr), "<= 1.10x", pr <= 1.1)
		b.sum.info("throughput", c.cpus+": nginx/direct req/s, p99", fmtRatio(n.rps/d.rps)+", "+fmtRatio(n.p99/d.p99))
		b.sum.info("throughput", c.cpus+": router/direct req/s, p99", fmtRatio(r.rps/d.rps)+", "+fmtRatio(r.p99/d.p99))
	}
	// -goroutinepath: the loops against the goroutine path (--loops 0).
	for _, c := range []struct{ n, r, g, cpus string }{{"nginx1", "router1", "router1g", "1 CPU"}, {"nginx2", "router2", "router2g", "2 CPUs"}} {
		g, ok := meds[c.g]
		if !ok {
			continue
		}
		n, r := meds[c.n], meds[c.r]
		vsN := fmt.Sprintf("throughput %s, p99 %s, CPU/req %s", fmtRatio(g.rps/n.rps), fmtRatio(g.p99/n.p99), fmtRatio(g.cpu/n.cpu))
		rVsG := fmt.Sprintf("throughput %s, p99 %s, CPU/req %s", fmtRatio(r.rps/g.rps), fmtRatio(r.p99/g.p99), fmtRatio(r.cpu/g.cpu))
		fmt.Printf("%s: router --loops 0/nginx %s; router/router --loops 0 %s\n", c.cpus, vsN, rVsG)
		b.sum.info("throughput", c.cpus+": router --loops 0/nginx", vsN)
		b.sum.info("throughput", c.cpus+": router/router --loops 0", rVsG)
	}
	// -epollref: the ceiling of an epoll data plane, for information
	// (a reference, not the product: no targets).
	for _, c := range []struct{ n, r, cpus string }{{"nginx1", "router1", "1 CPU"}, {"nginx2", "router2", "2 CPUs"}} {
		for _, suffix := range []string{"", "raw"} {
			key := "epoll" + c.cpus[:1] + suffix
			e, ok := meds[key]
			if !ok {
				continue
			}
			name := "epollref"
			if suffix != "" {
				name += " -raw"
			}
			n, r := meds[c.n], meds[c.r]
			vsN := fmt.Sprintf("throughput %s, p99 %s, CPU/req %s", fmtRatio(e.rps/n.rps), fmtRatio(e.p99/n.p99), fmtRatio(e.cpu/n.cpu))
			vsR := fmt.Sprintf("throughput %s, p99 %s, CPU/req %s", fmtRatio(e.rps/r.rps), fmtRatio(e.p99/r.p99), fmtRatio(e.cpu/r.cpu))
			fmt.Printf("%s: %s/nginx %s; %s/router %s\n", c.cpus, name, vsN, name, vsR)
			b.sum.info("throughput", c.cpus+": "+name+"/nginx", vsN)
			b.sum.info("throughput", c.cpus+": "+name+"/router", vsR)
		}
	}
	return stack.exited()
}

// startNginx runs nginx in the foreground (daemon off, so it is our child
// and its group ours to kill) with a config of its own under dir.
func (b *bench) startNginx(dir, name string, workers, port int, sock string) (*proc, error) {
	prefix := filepath.Join(dir, name)
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`daemon off;
master_process on;
worker_processes %d;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[2]s/body;
  proxy_temp_path %[2]s/proxy;
  upstream app { server unix:%[3]s; keepalive 128; }
  server {
    listen 127.0.0.1:%[4]d;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
    }
  }
}
`, workers, prefix, sock, port)
	cf := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	return b.procs.start(name, filepath.Join(prefix, "stderr.log"), nil,
		"nginx", "-p", prefix+"/", "-e", filepath.Join(prefix, "error.log"), "-c", cf)
}

var (
	reRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reReqs    = regexp.MustCompile(`(\d+) requests in`)
	reLat     = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	reNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	reSockErr = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// runWrk runs wrk -t2 against t for secs seconds and parses its report.
func runWrk(ctx context.Context, t target, secs, conns int) (wrkResult, error) {
	return runWrkURL(ctx, t, secs, conns, fmt.Sprintf("http://127.0.0.1:%d/", t.port), "acme.test", nil)
}

// runWrkURL is runWrk for any URL and Host field (the TLS section's
// https://NAME:PORT/), with wrk's argv behind prefix (the TLS section's
// private mount namespace, where NAME resolves).
func runWrkURL(ctx context.Context, t target, secs, conns int, url, host string, prefix []string) (wrkResult, error) {
	return runWrkArgs(ctx, t, secs, conns, url, host, prefix, nil)
}

// runWrkArgs is runWrkURL with more of wrk's options (extra), such as a
// "-H Connection: close" that makes every request a new connection.
func runWrkArgs(ctx context.Context, t target, secs, conns int, url, host string, prefix, extra []string) (wrkResult, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs+20)*time.Second)
	defer cancel()
	argv := append(slices.Clone(prefix), "wrk", "-t2", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", secs),
		"--timeout", "5s", "--latency", "-H", "Host: "+host)
	argv = append(append(argv, extra...), url)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	before := cpuTicks(t.pids())
	out, err := cmd.CombinedOutput()
	after := cpuTicks(t.pids())
	if err != nil {
		if ctx.Err() != nil {
			return wrkResult{}, fmt.Errorf("wrk %s: %w", t.label, context.Cause(ctx))
		}
		return wrkResult{}, fmt.Errorf("wrk %s: %v\n%s", t.label, err, out)
	}
	s := string(out)
	var w wrkResult
	m := reRPS.FindStringSubmatch(s)
	n := reReqs.FindStringSubmatch(s)
	if m == nil || n == nil {
		return w, fmt.Errorf("wrk %s: unexpected output:\n%s", t.label, s)
	}
	w.rps, _ = strconv.ParseFloat(m[1], 64)
	w.requests, _ = strconv.ParseInt(n[1], 10, 64)
	for _, l := range reLat.FindAllStringSubmatch(s, -1) {
		v, _ := strconv.ParseFloat(l[2], 64)
		switch l[3] {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		if l[1] == "50" {
			w.p50 = v
		} else {
			w.p99 = v
		}
	}
	if x := reNon2xx.FindStringSubmatch(s); x != nil {
		v, _ := strconv.ParseInt(x[1], 10, 64)
		w.bad += v
	}
	if x := reSockErr.FindStringSubmatch(s); x != nil {
		for _, f := range x[1:] {
			v, _ := strconv.ParseInt(f, 10, 64)
			w.bad += v
		}
	}
	if w.requests > 0 {
		// Linux's USER_HZ is 100 on every architecture Go supports here.
		w.cpuPerReq = float64(after-before) * 1e4 / float64(w.requests)
	}
	return w, nil
}

// freePorts returns n distinct free TCP ports on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// waitBody polls GET http://127.0.0.1:port/ with Host host until it
// answers 200 with body want.
func waitBody(ctx context.Context, port int, host, want string, timeout time.Duration) error {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	return waitURL(ctx, c, fmt.Sprintf("http://127.0.0.1:%d/", port), host, want, timeout)
}

// waitURL polls GET url with Host host through c until it answers 200
// with body want.
func waitURL(ctx context.Context, c *http.Client, url, host, want string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		req.Host = host
		resp, err := c.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && string(body) == want {
				return nil
			}
			last = fmt.Sprintf("%d %.100q", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no 200 %q from %s within %s (last: %s)", want, url, timeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// scrapeEverySecond GETs /metrics on 127.0.0.1:port once a second until
// stop is called, as Prometheus would, counting the scrapes and those
// that failed; port 0 does nothing.
func scrapeEverySecond(port int, n, bad *int) (stop func()) {
	if port == 0 {
		return func() {}
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		c := &http.Client{Timeout: 5 * time.Second}
		tk := time.NewTicker(time.Second)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-tk.C:
			}
			*n++
			resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
			if err != nil {
				*bad++
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !regexp.MustCompile(`(?m)^ehecoatl_requests_total\{`).Match(b) {
				*bad++
			}
		}
	}()
	return func() { close(done); <-finished }
}
