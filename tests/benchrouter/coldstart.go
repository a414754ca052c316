package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ehecoatl/ehecoatl/tests/harness"
	"github.com/ehecoatl/ehecoatl/tests/install"
	"golang.org/x/sys/unix"
)

const (
	coldTenant = "bench"
	coldHost   = "bench.test"
	coldUnit   = "ehecoatl-bench-web.service"
	coldSocket = "/run/ehecoatl/bench/web.sock"
)

// coldStart is section 2: in a real systemd 252 with Ehecoatl installed as
// the package installs it, the time to first byte of a GET through the
// router to an app whose service was just stopped (its socket listening),
// against the same GET to the running app, and the same pair straight to
// the app's socket without the router.
func (b *bench) coldStart(ctx context.Context) error {
	n := b.opts.cold
	fmt.Printf("\n=== 2. cold start in a real systemd (%d cold starts, %d warm requests, through the router and raw) ===\n", n, n)
	mdir := filepath.Join(b.work, "coldstart/m")
	if err := os.MkdirAll(filepath.Join(mdir, "tenants"), 0o755); err != nil {
		return err
	}
	manifest := fmt.Sprintf(`tenant: %s
apps:
  web:
    command: [/usr/local/lib/ehecoatl-test/hello]
    listen: activation
    domains: [%s]
    idle_timeout: 0
`, coldTenant, coldHost)
	if err := os.WriteFile(filepath.Join(mdir, "tenants", coldTenant+".yaml"), []byte(manifest), 0o644); err != nil {
		return err
	}
	files := install.Files(b.repo, b.bin)
	files["/usr/local/lib/ehecoatl-test/hello"] = filepath.Join(b.bin, "hello")
	files["/srv/m"] = mdir
	bootCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	m, err := harness.Boot(bootCtx, harness.Options{Name: fmt.Sprintf("ehecoatl-bench-%d", os.Getpid()), Files: files, Stdout: os.Stdout})
	if err != nil {
		return err
	}
	defer m.Close()
	run := func(argv ...string) (string, error) {
		c, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		out, _, err := m.Run(c, argv...)
		return out, err
	}
	fail := func(err error) error {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return fmt.Errorf("%w\nguest journal (last 40 lines):\n%s", err, m.Journal(c, "-n", "40"))
	}

	port, err := freePorts(1)
	if err != nil {
		return err
	}
	if _, err := run("sh", "-c", fmt.Sprintf(`set -e
mkdir -p /run/systemd/system/ehecoatl-router.socket.d
printf '[Socket]\nListenStream=\nListenStream=127.0.0.1:%d\n' > /run/systemd/system/ehecoatl-router.socket.d/bench.conf
systemctl daemon-reload
systemctl start ehecoatl-router.socket`, port[0])); err != nil {
		return fail(err)
	}
	if out, err := run("ehecoatl", "apply", "/srv/m"); err != nil {
		return fail(fmt.Errorf("%w\n%s", err, out))
	}
	routerAddr := fmt.Sprintf("127.0.0.1:%d", port[0])
	viaRouter := func() (net.Conn, error) { return net.DialTimeout("tcp", routerAddr, 5*time.Second) }
	rawPath := m.Root() + coldSocket
	raw := func() (net.Conn, error) { return net.DialTimeout("unix", rawPath, 5*time.Second) }

	// The router starts on its first connection; the app on its first
	// request. Neither start is measured.
	if _, _, err := ttfb(ctx, viaRouter, coldHost); err != nil {
		return fail(fmt.Errorf("first request through the router: %w", err))
	}
	fmt.Printf("router on %s (socket-activated ehecoatl-router.service, User=ehecoatl-router, full sandbox); app %s: listen activation, idle_timeout 0, DynamicUser + sandbox\n", routerAddr, coldUnit)
	fmt.Printf("each iteration: systemctl stop + reset-failed (outside the timing), cold GET, warm GET; same for the raw socket (%s via the guest's root)\n", coldSocket)

	// stop stops the app and resets its start-limit counter: 2n starts in
	// a minute are far above StartLimitBurst=30 per 30 s, which guards
	// crash loops, not this benchmark.
	stop := func() error {
		out, err := run("sh", "-c", fmt.Sprintf("systemctl stop %[1]s && systemctl reset-failed %[1]s 2>/dev/null; systemctl show -p ActiveState --value %[1]s", coldUnit))
		if err != nil {
			return err
		}
		if st := strings.TrimSpace(out); st != "inactive" {
			return fmt.Errorf("%s is %s after systemctl stop", coldUnit, st)
		}
		return nil
	}
	var coldR, warmR, coldRaw, warmRaw []float64
	var connects []int64 // CLOCK_MONOTONIC µs before each cold connect
	pids := map[string]bool{}
	for i := 0; i < n; i++ {
		for _, via := range []struct {
			dial       func() (net.Conn, error)
			cold, warm *[]float64
			name       string
		}{{viaRouter, &coldR, &warmR, "router"}, {raw, &coldRaw, &warmRaw, "raw"}} {
			if err := stop(); err != nil {
				return fail(fmt.Errorf("iteration %d: %w", i+1, err))
			}
			connects = append(connects, monotonicUsec())
			c, pid, err := ttfb(ctx, via.dial, coldHost)
			if err != nil {
				return fail(fmt.Errorf("iteration %d: cold GET (%s): %w", i+1, via.name, err))
			}
			if pids[pid] {
				return fail(fmt.Errorf("iteration %d: cold GET (%s) answered by PID %s, which served before: not a cold start", i+1, via.name, pid))
			}
			pids[pid] = true
			time.Sleep(20 * time.Millisecond)
			w, wpid, err := ttfb(ctx, via.dial, coldHost)
			if err != nil {
				return fail(fmt.Errorf("iteration %d: warm GET (%s): %w", i+1, via.name, err))
			}
			if wpid != pid {
				return fail(fmt.Errorf("iteration %d: warm GET (%s) answered by PID %s, cold by %s", i+1, via.name, wpid, pid))
			}
			*via.cold, *via.warm = append(*via.cold, ms(c)), append(*via.warm, ms(w))
		}
		if (i+1)%10 == 0 {
			fmt.Printf("  %d/%d: last cold %s (router) %s (raw), warm %s (router) %s (raw)\n", i+1, n,
				fmtMS(coldR[i]), fmtMS(coldRaw[i]), fmtMS(warmR[i]), fmtMS(warmRaw[i]))
		}
	}
	for _, u := range []string{coldUnit, "ehecoatl-bench-web.socket", "ehecoatl-router.service"} {
		out, err := run("systemctl", "show", "-p", "ActiveState", "-p", "Result", u)
		if err != nil {
			return fail(err)
		}
		if st := strings.Fields(out); !slices.Contains(st, "ActiveState=active") || !slices.Contains(st, "Result=success") {
			return fail(fmt.Errorf("%s after the run: %s, want ActiveState=active Result=success", u, strings.Join(st, " ")))
		}
	}

	// Where a cold start's time goes, from the guest's journal: the guest
	// shares the host's CLOCK_MONOTONIC (no time namespace), so the client's
	// connect time compares with journald's receive timestamps.
	jctx, jcancel := context.WithTimeout(ctx, time.Minute)
	jout, _, jerr := m.Run(jctx, "journalctl", "-b", "-u", coldUnit, "-o", "json", "--output-fields=MESSAGE", "--no-pager")
	jcancel()
	var bd breakdown
	if jerr == nil {
		bd = coldBreakdown(jout, connects)
	}

	if b.opts.hold {
		fmt.Printf("machine kept (-hold): nsenter -t %d -a systemctl status %s; Ctrl-C to go on\n", m.PID(), coldUnit)
		<-ctx.Done()
	}
	type stat struct{ p50, p99 float64 }
	pct := func(xs []float64) stat { return stat{percentile(xs, 50), percentile(xs, 99)} }
	cr, wr, cw, ww := pct(coldR), pct(warmR), pct(coldRaw), pct(warmRaw)
	or := stat{cr.p50 - wr.p50, cr.p99 - wr.p99}
	ow := stat{cw.p50 - ww.p50, cw.p99 - ww.p99}
	fmt.Printf("\n(percentiles by nearest rank; with %d samples p99 is the %s)\n", n, rankName(n))
	fmt.Printf("  %-28s %9s %9s\n", "TTFB", "p50", "p99")
	for _, l := range []struct {
		name string
		s    stat
	}{{"cold, through the router", cr}, {"warm, through the router", wr}, {"overhead (cold - warm)", or},
		{"cold, raw activation", cw}, {"warm, raw socket", ww}, {"raw overhead (cold - warm)", ow},
		{"router cost on cold (cold - raw cold)", stat{cr.p50 - cw.p50, cr.p99 - cw.p99}}} {
		fmt.Printf("  %-28s %9s %9s\n", l.name, fmtMS(l.s.p50), fmtMS(l.s.p99))
	}
	if len(bd.trigger) > 0 {
		fmt.Printf("\nwhere a cold start goes (%d of %d cold starts matched in the guest's journal; stamped when journald reads them, a few ms late under load):\n", len(bd.trigger), len(connects))
		fmt.Printf("  %-44s %9s %9s\n", "", "p50", "p99")
		for _, l := range []struct {
			name string
			xs   []float64
		}{{"connect -> systemd \"Starting\" (trigger, job)", bd.trigger},
			{"\"Starting\" -> \"Started\" (fork, sandbox, exec)", bd.exec},
			{"\"Started\" -> app logs \"serving\" (app init)", bd.app}} {
			fmt.Printf("  %-44s %9s %9s\n", l.name, fmtMS(percentile(l.xs, 50)), fmtMS(percentile(l.xs, 99)))
		}
	} else if jerr != nil {
		fmt.Printf("no breakdown: %v\n", jerr)
	}
	b.sum.info("coldstart", "cold TTFB via router p50 / p99", fmtMS(cr.p50)+" / "+fmtMS(cr.p99))
	b.sum.info("coldstart", "warm TTFB via router p50 / p99", fmtMS(wr.p50)+" / "+fmtMS(wr.p99))
	b.sum.check("coldstart", "cold overhead p50 (cold - warm)", fmtMS(or.p50), "<= 30 ms", or.p50 <= 30)
	b.sum.check("coldstart", "cold overhead p99 (cold - warm)", fmtMS(or.p99), "<= 100 ms", or.p99 <= 100)
	b.sum.info("coldstart", "raw activation cold p50 / p99", fmtMS(cw.p50)+" / "+fmtMS(cw.p99))
	b.sum.info("coldstart", "raw socket warm p50 / p99", fmtMS(ww.p50)+" / "+fmtMS(ww.p99))
	b.sum.info("coldstart", "raw overhead p50 / p99", fmtMS(ow.p50)+" / "+fmtMS(ow.p99))
	if len(bd.exec) > 0 {
		b.sum.info("coldstart", "systemd Starting->Started p50 / p99", fmtMS(percentile(bd.exec, 50))+" / "+fmtMS(percentile(bd.exec, 99)))
	}
	return nil
}

// rankName says which sample the nearest-rank p99 of n samples is.
func rankName(n int) string {
	r := int(math.Ceil(0.99 * float64(n)))
	if r >= n {
		return "largest sample"
	}
	return fmt.Sprintf("sample %d of %d in order", r, n)
}

var rePID = regexp.MustCompile(` pid (\d+) `)

// ttfb opens a new connection with dial, sends GET / with Host host and
// returns the time from before the connect to the first byte of the answer,
// and the PID the hello app reports. Anything but 200 from hello is an error.
func ttfb(ctx context.Context, dial func() (net.Conn, error), host string) (time.Duration, string, error) {
	t0 := time.Now()
	c, err := dial()
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nUser-Agent: ehecoatl-benchrouter\r\nConnection: close\r\n\r\n", host); err != nil {
		return 0, "", err
	}
	br := bufio.NewReader(c)
	if _, err := br.Peek(1); err != nil {
		return 0, "", fmt.Errorf("no answer: %w", err)
	}
	first := time.Since(t0)
	rest, err := io.ReadAll(br)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return 0, "", err
	}
	s := string(rest)
	if !strings.HasPrefix(s, "HTTP/1.1 200 ") || !strings.Contains(s, "hello from "+coldTenant+"/web") {
		return 0, "", fmt.Errorf("answer is not 200 from hello: %.200q", s)
	}
	m := rePID.FindStringSubmatch(s)
	if m == nil {
		return 0, "", fmt.Errorf("no pid in %.200q", s)
	}
	return first, m[1], nil
}

// breakdown splits cold starts into phases, in ms.
type breakdown struct{ trigger, exec, app []float64 }

// coldBreakdown matches each connect time (µs, CLOCK_MONOTONIC) with the
// next "Starting", "Started" and "hello: serving" entries of the unit's
// journal (journalctl -o json).
func coldBreakdown(journal string, connects []int64) breakdown {
	type entry struct {
		t    int64
		kind byte // 'S' Starting, 'D' Started, 'H' hello serving
	}
	var es []entry
	for _, line := range strings.Split(journal, "\n") {
		var e struct {
			Mono string `json:"__MONOTONIC_TIMESTAMP"`
			Msg  any    `json:"MESSAGE"`
		}
		if json.Unmarshal([]byte(line), &e) != nil {
			continue
		}
		msg, _ := e.Msg.(string)
		t, err := strconv.ParseInt(e.Mono, 10, 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(msg, "Starting "+coldUnit):
			es = append(es, entry{t, 'S'})
		case strings.HasPrefix(msg, "Started "+coldUnit):
			es = append(es, entry{t, 'D'})
		case strings.HasPrefix(msg, "hello: serving"):
			es = append(es, entry{t, 'H'})
		}
	}
	var bd breakdown
	j := 0
	for _, c := range connects {
		for j < len(es) && !(es[j].kind == 'S' && es[j].t >= c) {
			j++
		}
		if j+2 >= len(es) || es[j+1].kind != 'D' || es[j+2].kind != 'H' {
			continue
		}
		bd.trigger = append(bd.trigger, float64(es[j].t-c)/1000)
		bd.exec = append(bd.exec, float64(es[j+1].t-es[j].t)/1000)
		bd.app = append(bd.app, float64(es[j+2].t-es[j+1].t)/1000)
		j += 3
	}
	return bd
}

// monotonicUsec reads CLOCK_MONOTONIC in µs, the clock of the journal's
// __MONOTONIC_TIMESTAMP.
func monotonicUsec() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) != nil {
		return 0
	}
	return ts.Sec*1e6 + ts.Nsec/1e3
}
