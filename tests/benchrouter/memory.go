package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// memory is section 3: the router's resident memory with tenants × 1 app
// × 2 domains (10,000 routes by default) in its table, the time from its
// start to the first answer, and the time of a SIGHUP reload.
func (b *bench) memory(ctx context.Context) error {
	n := b.opts.tenants
	fmt.Printf("\n=== 3. router memory with %d routes (%d tenants × 1 app × 2 domains) ===\n", 2*n, n)
	dir := filepath.Join(b.work, "memory")
	etc, runDir, rt := filepath.Join(dir, "etc"), filepath.Join(dir, "run"), filepath.Join(dir, "runtime")
	for _, d := range []string{filepath.Join(etc, "tenants"), runDir, rt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	name := func(i int) string { return fmt.Sprintf("t%05d", i) }
	write := func(i int) error {
		t := name(i)
		y := fmt.Sprintf("tenant: %s\napps:\n  web:\n    command: [/usr/local/bin/app]\n    listen: activation\n    domains: [%s.example.test, www.%s.example.test]\n", t, t, t)
		return os.WriteFile(filepath.Join(etc, "tenants", t+".yaml"), []byte(y), 0o644)
	}
	for i := 1; i <= n; i++ {
		if err := write(i); err != nil {
			return err
		}
	}
	// A backend behind a few of the tenants (and the one the reload adds),
	// so that requests go all the way through.
	served := []int{1, n / 2, n, n + 1}
	var socks []string
	for _, i := range served {
		d := filepath.Join(runDir, name(i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		socks = append(socks, filepath.Join(d, "web.sock"))
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	backend, err := b.procs.start("backend", filepath.Join(dir, "backend.log"), nil,
		self, "backend", "-body", "13", "-unix", strings.Join(socks, ","))
	if err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, s := range socks {
		for {
			if _, err := os.Stat(s); err == nil {
				break
			}
			if err := backend.exited(); err != nil {
				return err
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("backend socket %s did not appear", s)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	log := filepath.Join(dir, "router.log")
	t0 := time.Now()
	// RUNTIME_DIRECTORY makes the router count its table loads there, as
	// under systemd (cmd/ehecoatl-router/reload.go): the reload is timed
	// until the count moves.
	router, err := b.procs.start("router", log, []string{"RUNTIME_DIRECTORY=" + rt},
		filepath.Join(b.bin, "ehecoatl-router"), "--listen", addr, "--manifests", etc,
		"--run-dir", runDir, "--access-log", "off", "--no-idle-stop")
	if err != nil {
		return err
	}
	c := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	get := func(host string) (int, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/", nil)
		req.Host = host
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	// Until it listens, connects are refused; then the request waits in
	// the backlog until the table is loaded and the router serves.
	var loadTime time.Duration
	for {
		code, err := get("unknown.example.test")
		if err == nil {
			if code != 404 {
				return fmt.Errorf("unknown host answered %d, want 404", code)
			}
			loadTime = time.Since(t0)
			break
		}
		if e := router.exited(); e != nil {
			return e
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Since(t0) > 2*time.Minute {
			return fmt.Errorf("router did not answer within 2 minutes: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	routes, apps := tableSize(log, 1)
	if routes != 2*n {
		return fmt.Errorf("router loaded %d routes (%d apps), want %d; log:\n%s", routes, apps, 2*n, tail(log, 10))
	}
	fmt.Printf("router loaded %d routes of %d apps; first answer (404 for an unknown host) %s after start\n", routes, apps, loadTime.Round(time.Millisecond))

	// A few requests: served tenants by both domains, unknown hosts.
	hosts := []string{"unknown.example.test"}
	for _, i := range served[:3] {
		hosts = append(hosts, name(i)+".example.test", "www."+name(i)+".example.test")
	}
	for k := 0; k < 20; k++ {
		for _, h := range hosts {
			code, err := get(h)
			want := 200
			if h == "unknown.example.test" {
				want = 404
			}
			if err != nil || code != want {
				return fmt.Errorf("GET %s: %d %v, want %d", h, code, err, want)
			}
		}
	}
	// Right after the requests, and once the Go runtime has settled (its
	// scavenger returns part of the heap the load grew, a second or two
	// later); the target applies to the larger.
	rss, err := settledRSS(ctx, router.pid, get, hosts[1])
	if err != nil {
		return err
	}
	hwm, _ := vmStatus(router.pid, "VmHWM")
	fmt.Printf("after %d requests: VmRSS %s, %s %s later (VmHWM, the peak: %s)\n", 20*len(hosts), mib(rss[0]), mib(rss[1]), settle, mib(hwm))

	// Reload with one tenant more: SIGHUP, then wait for the load count.
	if err := write(n + 1); err != nil {
		return err
	}
	before, _ := reloadCount(rt)
	t1 := time.Now()
	if err := syscall.Kill(router.pid, syscall.SIGHUP); err != nil {
		return err
	}
	var status string
	for {
		var k int
		k, status = reloadCount(rt)
		if k > before {
			break
		}
		if time.Since(t1) > time.Minute {
			return fmt.Errorf("no reload within a minute (count %d)", k)
		}
		time.Sleep(time.Millisecond)
	}
	reloadTime := time.Since(t1)
	if status != "ok" {
		return fmt.Errorf("reload: %s", status)
	}
	if code, err := get(name(n+1) + ".example.test"); err != nil || code != 200 {
		return fmt.Errorf("tenant added by the reload: %d %v, want 200", code, err)
	}
	routes2, _ := tableSize(log, 2)
	rss2, err := settledRSS(ctx, router.pid, get, hosts[1])
	if err != nil {
		return err
	}
	hwm2, _ := vmStatus(router.pid, "VmHWM")
	fmt.Printf("SIGHUP reload to %d routes: %s; then VmRSS %s, %s %s later (VmHWM %s)\n", routes2, reloadTime.Round(time.Millisecond), mib(rss2[0]), mib(rss2[1]), settle, mib(hwm2))
	if err := router.exited(); err != nil {
		return err
	}

	const targetKB = 50 * 1024
	r1, r2 := max(rss[0], rss[1]), max(rss2[0], rss2[1])
	// The target is read as 50 MiB; the value shows decimal MB too, since
	// a figure between 47.7 and 50 MiB meets one reading and not the other.
	b.sum.check("memory", fmt.Sprintf("router VmRSS, %d routes, after start", routes), mibMB(r1), "<= 50 MiB", r1 > 0 && r1 <= targetKB)
	b.sum.check("memory", fmt.Sprintf("router VmRSS, %d routes, after a reload", routes2), mibMB(r2), "<= 50 MiB", r2 > 0 && r2 <= targetKB)
	b.sum.info("memory", "router VmHWM (peak) after start / reload", mib(hwm)+" / "+mib(hwm2))
	b.sum.info("memory", "start to first answer (load)", loadTime.Round(time.Millisecond).String())
	b.sum.info("memory", "SIGHUP reload time", reloadTime.Round(time.Millisecond).String())
	return nil
}

var reTable = regexp.MustCompile(`msg="routing table loaded" routes=(\d+) apps=(\d+)`)

// tableSize returns the sizes in the k-th "routing table loaded" log line.
func tableSize(log string, k int) (routes, apps int) {
	b, _ := os.ReadFile(log)
	all := reTable.FindAllStringSubmatch(string(b), -1)
	if len(all) < k {
		return -1, -1
	}
	routes, _ = strconv.Atoi(all[k-1][1])
	apps, _ = strconv.Atoi(all[k-1][2])
	return routes, apps
}

// reloadCount reads the router's "<n> ok" load counter.
func reloadCount(dir string) (int, string) {
	b, _ := os.ReadFile(filepath.Join(dir, "reloads"))
	f := strings.SplitN(strings.TrimSpace(string(b)), " ", 2)
	k, _ := strconv.Atoi(f[0])
	if len(f) < 2 {
		return k, ""
	}
	return k, f[1]
}

func mib(kb int64) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }

func mibMB(kb int64) string { return fmt.Sprintf("%s (%.1f MB)", mib(kb), float64(kb)*1024/1e6) }

// settle is how long settledRSS waits for the second reading.
const settle = 3 * time.Second

// settledRSS reads VmRSS now and after settle, with a request every 250 ms
// in between (a router in service, not an idle one).
func settledRSS(ctx context.Context, pid int, get func(string) (int, error), host string) ([2]int64, error) {
	var out [2]int64
	var err error
	if out[0], err = vmStatus(pid, "VmRSS"); err != nil {
		return out, err
	}
	end := time.Now().Add(settle)
	for time.Now().Before(end) {
		if code, err := get(host); err != nil || code != 200 {
			return out, fmt.Errorf("GET %s: %d %v", host, code, err)
		}
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	out[1], err = vmStatus(pid, "VmRSS")
	return out, err
}
