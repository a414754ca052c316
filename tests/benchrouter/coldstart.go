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

// coldApp is one tenant's hello app of the cold-start section.
type coldApp struct{ tenant, label string }

func (a coldApp) host() string     { return a.tenant + ".test" }
func (a coldApp) unit() string     { return "ehecoatl-" + a.tenant + "-web.service" }
func (a coldApp) socket() string   { return "/run/ehecoatl/" + a.tenant + "/web.sock" }
func (a coldApp) sockUnit() string { return "ehecoatl-" + a.tenant + "-web.socket" }

var (
	// coldNow runs under the sandbox the generator writes today.
	coldNow = coldApp{"bench", "today's sandbox"}
	// coldBefore is the same app of a second tenant under the file-system
	// boundary before the deny-by-default root (commit 5dbe9d5), restored
	// by beforeDropIn: issue 8 asks what the new boundary costs at cold
	// start, as ratios measured in one run.
	coldBefore = coldApp{"before", "previous boundary"}
)

// beforeDropIn resets what commit 5dbe9d5 added to every app's service
// (templates/hardening.conf) and restores the InaccessiblePaths= it
// removed (the generator's hidden(); the installed secrets directory is
// below /etc/ehecoatl). The rest of the unit is the generator's, as for
// coldNow.
const beforeDropIn = `# benchrouter: the boundary before commit 5dbe9d5
[Service]
RootDirectory=
MountAPIVFS=no
BindReadOnlyPaths=
TemporaryFileSystem=
InaccessiblePaths=-/run/ehecoatl -/etc/ehecoatl -/run/systemd/generator -/run/dbus
`

// boundaryProps are the properties commit 5dbe9d5 changed.
const boundaryProps = "RootDirectory,MountAPIVFS,BindReadOnlyPaths,TemporaryFileSystem,InaccessiblePaths"

// guestRun runs a command in the guest and returns its stdout.
type guestRun func(argv ...string) (string, error)

// coldTarget is one app reached one way, with its samples in ms and the
// CLOCK_MONOTONIC µs before each cold connect.
type coldTarget struct {
	app        coldApp
	via        string // "router" or "raw"
	dial       func() (net.Conn, error)
	cold, warm []float64
	connects   []int64
}

type stat struct{ p50, p99 float64 }

func pct(xs []float64) stat { return stat{percentile(xs, 50), percentile(xs, 99)} }

// coldStart is section 2: in a real systemd 252 with Ehecoatl installed as
// the package installs it, the time to first byte of a GET through the
// router to an app whose service was just stopped (its socket listening),
// against the same GET to the running app, and the same pair straight to
// the app's socket without the router; each for today's sandbox and for
// the previous boundary, interleaved iteration by iteration.
func (b *bench) coldStart(ctx context.Context) error {
	n := b.opts.cold
	fmt.Printf("\n=== 2. cold start in a real systemd (%d iterations of: cold + warm GET, through the router and raw, for %s and %s) ===\n", n, coldNow.label, coldBefore.label)
	mdir := filepath.Join(b.work, "coldstart/m")
	if err := writeColdManifests(mdir); err != nil {
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
	if err := coldSetup(run, port[0]); err != nil {
		return fail(err)
	}
	if out, err := run("ehecoatl", "apply", "/srv/m"); err != nil {
		return fail(fmt.Errorf("%w\n%s", err, out))
	}
	if err := checkBoundaries(run); err != nil {
		return fail(err)
	}
	routerAddr := fmt.Sprintf("127.0.0.1:%d", port[0])
	var targets []*coldTarget
	for _, a := range []coldApp{coldNow, coldBefore} {
		rawPath := m.Root() + a.socket()
		targets = append(targets,
			&coldTarget{app: a, via: "router", dial: func() (net.Conn, error) { return net.DialTimeout("tcp", routerAddr, 5*time.Second) }},
			&coldTarget{app: a, via: "raw", dial: func() (net.Conn, error) { return net.DialTimeout("unix", rawPath, 5*time.Second) }})
	}

	// The router starts on its first connection; each app on its first
	// request. No first start is measured.
	for _, t := range targets {
		if _, _, err := ttfb(ctx, t.dial, t.app); err != nil {
			return fail(fmt.Errorf("first request to %s (%s): %w", t.app.tenant, t.via, err))
		}
	}
	fmt.Printf("router on %s (socket-activated ehecoatl-router.service, User=ehecoatl-router, full sandbox); apps %s and %s: listen activation, idle_timeout 0, DynamicUser + sandbox\n", routerAddr, coldNow.unit(), coldBefore.unit())
	fmt.Printf("each iteration, per app (which app goes first alternates): systemctl stop + reset-failed (outside the timing), cold GET, warm GET; same for the raw socket (%s via the guest's root)\n", coldNow.socket())

	// stop stops an app and resets its start-limit counter: 4n starts in
	// a minute or two are far above StartLimitBurst=5 per 5 s, which
	// guards crash loops, not this benchmark.
	stop := func(unit string) error {
		out, err := run("sh", "-c", fmt.Sprintf("systemctl stop %[1]s && systemctl reset-failed %[1]s 2>/dev/null; systemctl show -p ActiveState --value %[1]s", unit))
		if err != nil {
			return err
		}
		if st := strings.TrimSpace(out); st != "inactive" {
			return fmt.Errorf("%s is %s after systemctl stop", unit, st)
		}
		return nil
	}
	pids := map[string]bool{}
	for i := 0; i < n; i++ {
		// Neither app always follows the other's stop and start (page
		// cache, systemd's own bookkeeping).
		order := targets
		if i%2 == 1 {
			order = slices.Concat(targets[2:], targets[:2])
		}
		for _, t := range order {
			if err := t.sample(ctx, stop, pids); err != nil {
				return fail(fmt.Errorf("iteration %d: %w", i+1, err))
			}
		}
		if (i+1)%10 == 0 {
			fmt.Printf("  %d/%d: last cold %s (router) %s (raw), %s %s (router) %s (raw)\n", i+1, n,
				fmtMS(targets[0].cold[i]), fmtMS(targets[1].cold[i]), coldBefore.label, fmtMS(targets[2].cold[i]), fmtMS(targets[3].cold[i]))
		}
	}
	// Other work on the machine widens p99 more than p50.
	fmt.Printf("  (%s after the iterations)\n", loadavg())
	for _, u := range []string{coldNow.unit(), coldBefore.unit(), coldNow.sockUnit(), coldBefore.sockUnit(), "ehecoatl-router.service"} {
		out, err := run("systemctl", "show", "-p", "ActiveState", "-p", "Result", u)
		if err != nil {
			return fail(err)
		}
		if st := strings.Fields(out); !slices.Contains(st, "ActiveState=active") || !slices.Contains(st, "Result=success") {
			return fail(fmt.Errorf("%s after the run: %s, want ActiveState=active Result=success", u, strings.Join(st, " ")))
		}
	}

	bds := [2]breakdown{journalBreakdown(ctx, m, targets[0], targets[1]), journalBreakdown(ctx, m, targets[2], targets[3])}
	if b.opts.hold {
		fmt.Printf("machine kept (-hold): nsenter -t %d -a systemctl status %s; Ctrl-C to go on\n", m.PID(), coldNow.unit())
		<-ctx.Done()
	}
	b.coldReport(n, targets, bds)
	return nil
}

// writeColdManifests writes one tenant per app of the section, the same
// but for the names.
func writeColdManifests(mdir string) error {
	if err := os.MkdirAll(filepath.Join(mdir, "tenants"), 0o755); err != nil {
		return err
	}
	for _, a := range []coldApp{coldNow, coldBefore} {
		manifest := fmt.Sprintf(`tenant: %s
apps:
  web:
    command: [/usr/local/lib/ehecoatl-test/hello]
    listen: activation
    domains: [%s]
    idle_timeout: 0
`, a.tenant, a.host())
		if err := os.WriteFile(filepath.Join(mdir, "tenants", a.tenant+".yaml"), []byte(manifest), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// coldSetup moves the router's socket to port and puts coldBefore under
// the previous boundary; both drop-ins are in place before apply loads
// the units, so no start of coldBefore ever has today's sandbox.
func coldSetup(run guestRun, port int) error {
	dropIn := "/run/systemd/system/" + coldBefore.unit() + ".d"
	_, err := run("sh", "-c", fmt.Sprintf(`set -e
mkdir -p /run/systemd/system/ehecoatl-router.socket.d %[2]s
printf '[Socket]\nListenStream=\nListenStream=127.0.0.1:%[1]d\n' > /run/systemd/system/ehecoatl-router.socket.d/bench.conf
cat > %[2]s/before.conf <<'END'
%[3]sEND
systemctl daemon-reload
systemctl start ehecoatl-router.socket`, port, dropIn, beforeDropIn))
	return err
}

// checkBoundaries prints the properties commit 5dbe9d5 changed for both
// apps, as systemd loaded them, and fails unless coldNow has the new
// root and coldBefore the old hidden paths and nothing of the new.
func checkBoundaries(run guestRun) error {
	fmt.Printf("boundaries as loaded (systemctl show -p %s):\n", boundaryProps)
	for _, a := range []coldApp{coldNow, coldBefore} {
		out, err := run("systemctl", "show", "-p", boundaryProps, a.unit())
		if err != nil {
			return err
		}
		p := map[string]string{}
		fmt.Printf("  %s (%s):\n", a.unit(), a.label)
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			k, v, _ := strings.Cut(l, "=")
			p[k] = v
			fmt.Printf("    %s\n", l)
		}
		ok := p["RootDirectory"] == "/run/ehecoatl-root"
		if a == coldBefore {
			ok = p["RootDirectory"] == "" && p["MountAPIVFS"] == "no" && p["BindReadOnlyPaths"] == "" && p["TemporaryFileSystem"] == "" &&
				strings.Contains(p["InaccessiblePaths"], "/run/ehecoatl") && strings.Contains(p["InaccessiblePaths"], "/etc/ehecoatl")
		}
		if !ok {
			return fmt.Errorf("%s does not have the %s:\n%s", a.unit(), a.label, out)
		}
	}
	return nil
}

// sample stops t's app (outside the timing), then times a cold GET, which
// starts it, and a warm GET answered by the same process.
func (t *coldTarget) sample(ctx context.Context, stop func(string) error, pids map[string]bool) error {
	if err := stop(t.app.unit()); err != nil {
		return err
	}
	t.connects = append(t.connects, monotonicUsec())
	c, pid, err := ttfb(ctx, t.dial, t.app)
	if err != nil {
		return fmt.Errorf("cold GET (%s, %s): %w", t.app.tenant, t.via, err)
	}
	if pids[pid] {
		return fmt.Errorf("cold GET (%s, %s) answered by PID %s, which served before: not a cold start", t.app.tenant, t.via, pid)
	}
	pids[pid] = true
	time.Sleep(20 * time.Millisecond)
	w, wpid, err := ttfb(ctx, t.dial, t.app)
	if err != nil {
		return fmt.Errorf("warm GET (%s, %s): %w", t.app.tenant, t.via, err)
	}
	if wpid != pid {
		return fmt.Errorf("warm GET (%s, %s) answered by PID %s, cold by %s", t.app.tenant, t.via, wpid, pid)
	}
	t.cold, t.warm = append(t.cold, ms(c)), append(t.warm, ms(w))
	return nil
}

// journalBreakdown splits the cold starts of one app (both ways) by its
// unit's journal in the guest: the guest shares the host's
// CLOCK_MONOTONIC (no time namespace), so the client's connect times
// compare with journald's receive timestamps. Empty when the journal
// cannot be read.
func journalBreakdown(ctx context.Context, m *harness.Machine, ts ...*coldTarget) breakdown {
	var connects []int64
	for _, t := range ts {
		connects = append(connects, t.connects...)
	}
	slices.Sort(connects)
	unit := ts[0].app.unit()
	jctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, _, err := m.Run(jctx, "journalctl", "-b", "-u", unit, "-o", "json", "--output-fields=MESSAGE", "--no-pager")
	if err != nil {
		fmt.Printf("no breakdown of %s: %v\n", unit, err)
		return breakdown{}
	}
	return coldBreakdown(out, unit, connects)
}

// coldReport prints the section's figures and records them: today's app
// as before this comparison existed, then both apps side by side.
func (b *bench) coldReport(n int, t []*coldTarget, bds [2]breakdown) {
	cr, wr, cw, ww := pct(t[0].cold), pct(t[0].warm), pct(t[1].cold), pct(t[1].warm)
	or := stat{cr.p50 - wr.p50, cr.p99 - wr.p99}
	ow := stat{cw.p50 - ww.p50, cw.p99 - ww.p99}
	fmt.Printf("\n(percentiles by nearest rank; with %d samples p99 is the %s)\n", n, rankName(n))
	fmt.Printf("%s (%s):\n", coldNow.unit(), coldNow.label)
	fmt.Printf("  %-28s %9s %9s\n", "TTFB", "p50", "p99")
	for _, l := range []struct {
		name string
		s    stat
	}{{"cold, through the router", cr}, {"warm, through the router", wr}, {"overhead (cold - warm)", or},
		{"cold, raw activation", cw}, {"warm, raw socket", ww}, {"raw overhead (cold - warm)", ow},
		{"router cost on cold (cold - raw cold)", stat{cr.p50 - cw.p50, cr.p99 - cw.p99}}} {
		fmt.Printf("  %-28s %9s %9s\n", l.name, fmtMS(l.s.p50), fmtMS(l.s.p99))
	}
	printBreakdown(bds[0], len(t[0].connects)+len(t[1].connects))
	b.sum.info("coldstart", "cold TTFB via router p50 / p99", fmtMS(cr.p50)+" / "+fmtMS(cr.p99))
	b.sum.info("coldstart", "warm TTFB via router p50 / p99", fmtMS(wr.p50)+" / "+fmtMS(wr.p99))
	b.sum.check("coldstart", "cold overhead p50 (cold - warm)", fmtMS(or.p50), "<= 30 ms", or.p50 <= 30)
	b.sum.check("coldstart", "cold overhead p99 (cold - warm)", fmtMS(or.p99), "<= 100 ms", or.p99 <= 100)
	b.sum.info("coldstart", "raw activation cold p50 / p99", fmtMS(cw.p50)+" / "+fmtMS(cw.p99))
	b.sum.info("coldstart", "raw socket warm p50 / p99", fmtMS(ww.p50)+" / "+fmtMS(ww.p99))
	b.sum.info("coldstart", "raw overhead p50 / p99", fmtMS(ow.p50)+" / "+fmtMS(ow.p99))
	if len(bds[0].exec) > 0 {
		b.sum.info("coldstart", "systemd Starting->Started p50 / p99", fmtMS(percentile(bds[0].exec, 50))+" / "+fmtMS(percentile(bds[0].exec, 99)))
	}
	b.boundaryReport(t, bds)
}

// boundaryReport compares the cold starts of today's sandbox with those of
// the previous boundary (issue 8): same app, same run, interleaved.
func (b *bench) boundaryReport(t []*coldTarget, bds [2]breakdown) {
	fmt.Printf("\ncold TTFB, %s (%s) against %s (%s), connect -> first byte:\n", coldNow.label, coldNow.tenant, coldBefore.label, coldBefore.tenant)
	fmt.Printf("  %-52s %9s %9s\n", "", "p50", "p99")
	type pair struct {
		name, short string // in the table, in the summary
		now, prior  []float64
	}
	rows := []pair{{"cold, through the router", "cold TTFB via router", t[0].cold, t[2].cold},
		{"cold, raw activation", "raw activation cold", t[1].cold, t[3].cold}}
	if len(bds[0].exec) > 0 && len(bds[1].exec) > 0 {
		// Where the boundary's cost should be: systemd sets up the
		// sandbox between these two messages.
		rows = append(rows, pair{"systemd \"Starting\" -> \"Started\"", "systemd Starting->Started", bds[0].exec, bds[1].exec})
	}
	for _, r := range rows {
		now, prior := pct(r.now), pct(r.prior)
		ratio := stat{now.p50 / prior.p50, now.p99 / prior.p99}
		fmt.Printf("  %-52s %9s %9s\n", r.name+", "+coldBefore.label, fmtMS(prior.p50), fmtMS(prior.p99))
		fmt.Printf("  %-52s %9s %9s\n", r.name+", "+coldNow.label, fmtMS(now.p50), fmtMS(now.p99))
		fmt.Printf("  %-52s %9s %9s\n", "  cost (today - previous)", fmtMS(now.p50-prior.p50), fmtMS(now.p99-prior.p99))
		fmt.Printf("  %-52s %9s %9s\n", "  ratio today / previous", fmtRatio(ratio.p50), fmtRatio(ratio.p99))
		b.sum.info("coldstart", r.short+", previous boundary p50 / p99", fmtMS(prior.p50)+" / "+fmtMS(prior.p99))
		b.sum.info("coldstart", r.short+", today/previous p50 / p99", fmtRatio(ratio.p50)+" / "+fmtRatio(ratio.p99))
	}
}

// printBreakdown prints where today's cold starts go, of total cold starts.
func printBreakdown(bd breakdown, total int) {
	if len(bd.trigger) == 0 {
		return
	}
	fmt.Printf("\nwhere a cold start goes (%d of %d cold starts matched in the guest's journal; stamped when journald reads them, a few ms late under load):\n", len(bd.trigger), total)
	fmt.Printf("  %-44s %9s %9s\n", "", "p50", "p99")
	for _, l := range []struct {
		name string
		xs   []float64
	}{{"connect -> systemd \"Starting\" (trigger, job)", bd.trigger},
		{"\"Starting\" -> \"Started\" (fork, sandbox, exec)", bd.exec},
		{"\"Started\" -> app logs \"serving\" (app init)", bd.app}} {
		fmt.Printf("  %-44s %9s %9s\n", l.name, fmtMS(percentile(l.xs, 50)), fmtMS(percentile(l.xs, 99)))
	}
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

// ttfb opens a new connection with dial, sends GET / with app's Host and
// returns the time from before the connect to the first byte of the answer,
// and the PID the hello app reports. Anything but 200 from app's hello is
// an error.
func ttfb(ctx context.Context, dial func() (net.Conn, error), app coldApp) (time.Duration, string, error) {
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
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nUser-Agent: ehecoatl-benchrouter\r\nConnection: close\r\n\r\n", app.host()); err != nil {
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
	if !strings.HasPrefix(s, "HTTP/1.1 200 ") || !strings.Contains(s, "hello from "+app.tenant+"/web") {
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
// next "Starting", "Started" and "hello: serving" entries of unit's
// journal (journalctl -o json); connects in ascending order.
func coldBreakdown(journal, unit string, connects []int64) breakdown {
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
		case strings.HasPrefix(msg, "Starting "+unit):
			es = append(es, entry{t, 'S'})
		case strings.HasPrefix(msg, "Started "+unit):
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
