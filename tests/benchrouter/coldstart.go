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

	"github.com/ehecoatl/ehecoatl/appexec"
	"github.com/ehecoatl/ehecoatl/naming"
	"github.com/ehecoatl/ehecoatl/tests/harness"
	"github.com/ehecoatl/ehecoatl/tests/install"
	"golang.org/x/sys/unix"
)

// coldApp is one tenant's hello app of the cold-start section.
type coldApp struct{ tenant, label, listen string }

func (a coldApp) host() string     { return a.tenant + ".test" }
func (a coldApp) unit() string     { return "ehecoatl-" + a.tenant + "-web.service" }
func (a coldApp) socket() string   { return "/run/ehecoatl/" + a.tenant + "/web.sock" }
func (a coldApp) sockUnit() string { return "ehecoatl-" + a.tenant + "-web.socket" }
func (a coldApp) port() bool       { return strings.HasPrefix(a.listen, "port:") }

// services are the app's services: a port: app's bridge, which its
// socket activates, and the app.
func (a coldApp) services() []string {
	if a.port() {
		return []string{"ehecoatl-" + a.tenant + "-web-bridge.service", a.unit()}
	}
	return []string{a.unit()}
}

var (
	// coldNow runs under the sandbox the generator writes today.
	coldNow = coldApp{"bench", "full sandbox", "listen: activation"}
	// coldMin is the same app of a second tenant under the minimal
	// sandbox of issue 15's target (minimalSandbox), the rest of its
	// unit the generator's (minimalUnit): the target is the ratio of the
	// two cold starts, measured in one run.
	coldMin = coldApp{"minimal", "minimal sandbox", "listen: activation"}
	// coldPort is the app as a port: app, full sandbox: its socket
	// starts the bridge and the app (two services), and the bridge polls
	// for the app's port (docs/DESIGN.md "Port apps").
	coldPort = coldApp{"portapp", "port: app + bridge", "port: 8080"}
	coldApps = []coldApp{coldNow, coldMin, coldPort}
	// coldOther (-coldlauncher) is the full-sandbox app with its command
	// run the other way than the generator runs it: through the launcher
	// or with the program in ExecStart= (otherWay), by a drop-in.
	coldOther = coldApp{"other", "full sandbox, command run the other way", "listen: activation"}
)

// otherWay returns the drop-in that runs the hello app the other way
// than the generated unit does, and what that way is.
func otherWay(generated string) (dropIn, label string) {
	const hello = "/usr/local/lib/ehecoatl-test/hello"
	if slices.Contains(serviceLines(generated), "ExecStart="+naming.ExecBin) {
		return "[Service]\nExecStart=\nExecStart=" + hello + " $EHECOATL_ARGS\nSyslogIdentifier=\n", "program in ExecStart= (no launcher)"
	}
	return "[Service]\nExecStart=\nExecStart=" + naming.ExecBin + "\nEnvironment=" + appexec.Prefix + "0=" + hello + "\n", "through the launcher " + naming.ExecBin
}

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
// the app's socket without the router; each for the full sandbox, the
// minimal one and a port: app, interleaved iteration by iteration.
func (b *bench) coldStart(ctx context.Context) error {
	n := b.opts.cold
	coldApps := coldApps
	if b.opts.coldOther {
		coldApps = append(slices.Clone(coldApps), coldOther)
	}
	fmt.Printf("\n=== 2. cold start in a real systemd (%d iterations of: cold + warm GET, through the router and raw, for the %s, the %s and a %s) ===\n", n, coldNow.label, coldMin.label, coldPort.label)
	mdir := filepath.Join(b.work, "coldstart/m")
	for _, a := range coldApps {
		if err := writeHelloManifest(mdir, a.tenant, a.listen); err != nil {
			return err
		}
	}
	gen, err := generatedUnits(mdir)
	if err != nil {
		return err
	}
	minimal, err := minimalUnit(gen[coldMin.unit()])
	if err != nil {
		return err
	}
	m, err := b.bootGuest(ctx, "ehecoatl-bench", map[string]string{
		"/usr/local/lib/ehecoatl-test/hello": filepath.Join(b.bin, "hello"),
		"/srv/m":                             mdir,
	})
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
	if err := coldSetup(m, run, port[0], minimal); err != nil {
		return fail(err)
	}
	otherLabel := ""
	if b.opts.coldOther {
		var dropIn string
		dropIn, otherLabel = otherWay(gen[coldNow.unit()])
		if b.opts.coldOld {
			// The previous release's root and binds (BindReadOnlyPaths=
			// is a list: these add to the profile's /usr and /etc).
			if _, err := run("sh", "-c", oldRootScript); err != nil {
				return fail(err)
			}
			dropIn += "RootDirectory=" + oldRoot + "\nBindReadOnlyPaths=-/bin -/sbin -/lib -/lib64 -/lib32 -/libx32\n"
			otherLabel += ", binds for /bin, /sbin, /lib* on a root of directories"
		}
		if err := m.WriteFile("/run/systemd/system/"+coldOther.unit()+".d/other-way.conf", []byte(dropIn), 0o644); err != nil {
			return fail(err)
		}
		fmt.Printf("%s: %s (a drop-in)\n", coldOther.unit(), otherLabel)
	}
	if out, err := run("ehecoatl", "apply", "/srv/m"); err != nil {
		return fail(fmt.Errorf("%w\n%s", err, out))
	}
	if err := checkSandboxes(run); err != nil {
		return fail(err)
	}
	routerAddr := fmt.Sprintf("127.0.0.1:%d", port[0])
	var targets []*coldTarget
	for _, a := range coldApps {
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
	fmt.Printf("router on %s (socket-activated ehecoatl-router.service, User=ehecoatl-router, full sandbox); apps %s (%s), %s (%s), %s (%s, bridge and app): idle_timeout 0, DynamicUser\n",
		routerAddr, coldNow.unit(), coldNow.label, coldMin.unit(), coldMin.label, coldPort.unit(), coldPort.label)
	fmt.Printf("each iteration, per app (the order rotates): systemctl stop + reset-failed (outside the timing), cold GET, warm GET; same for the raw socket (%s via the guest's root)\n", coldNow.socket())

	// stop stops an app's services and resets their start-limit
	// counters: 4n starts in a minute or two are far above
	// StartLimitBurst=5 per 5 s, which guards crash loops, not this
	// benchmark.
	stop := func(a coldApp) error {
		us := strings.Join(a.services(), " ")
		out, err := run("sh", "-c", fmt.Sprintf("systemctl stop %[1]s && systemctl reset-failed %[1]s 2>/dev/null; systemctl show -p ActiveState --value %[1]s", us))
		if err != nil {
			return err
		}
		for i, st := range strings.Fields(out) {
			if st != "inactive" {
				return fmt.Errorf("%s is %s after systemctl stop", a.services()[i], st)
			}
		}
		return nil
	}
	pids := map[string]bool{}
	for i := 0; i < n; i++ {
		// No app always follows another's stop and start (page cache,
		// systemd's own bookkeeping).
		k := 2 * (i % len(coldApps))
		order := slices.Concat(targets[k:], targets[:k])
		for _, t := range order {
			if err := t.sample(ctx, stop, pids); err != nil {
				return fail(fmt.Errorf("iteration %d: %w", i+1, err))
			}
		}
		if (i+1)%10 == 0 {
			fmt.Printf("  %d/%d: last cold (router, raw): %s %s %s; %s %s %s; %s %s %s\n", i+1, n,
				coldNow.label, fmtMS(targets[0].cold[i]), fmtMS(targets[1].cold[i]),
				coldMin.label, fmtMS(targets[2].cold[i]), fmtMS(targets[3].cold[i]),
				coldPort.label, fmtMS(targets[4].cold[i]), fmtMS(targets[5].cold[i]))
		}
	}
	// Other work on the machine widens p99 more than p50.
	fmt.Printf("  (%s after the iterations)\n", loadavg())
	check := []string{"ehecoatl-router.service"}
	for _, a := range coldApps {
		check = append(check, a.sockUnit())
		check = append(check, a.services()...)
	}
	for _, u := range check {
		out, err := run("systemctl", "show", "-p", "ActiveState", "-p", "Result", u)
		if err != nil {
			return fail(err)
		}
		if st := strings.Fields(out); !slices.Contains(st, "ActiveState=active") || !slices.Contains(st, "Result=success") {
			return fail(fmt.Errorf("%s after the run: %s, want ActiveState=active Result=success", u, strings.Join(st, " ")))
		}
	}

	var bds []breakdown
	for k := range coldApps {
		bds = append(bds, journalBreakdown(ctx, m, targets[2*k], targets[2*k+1]))
	}
	if b.opts.hold {
		fmt.Printf("machine kept (-hold): nsenter -t %d -a systemctl status %s; Ctrl-C to go on\n", m.PID(), coldNow.unit())
		<-ctx.Done()
	}
	b.coldReport(n, targets, bds)
	if b.opts.coldOther {
		b.otherReport(targets, bds, otherLabel)
	}
	return nil
}

// otherReport compares the full-sandbox app as generated with the same
// app whose command runs the other way (-coldlauncher), interleaved in
// the same run.
func (b *bench) otherReport(t []*coldTarget, bds []breakdown, label string) {
	fmt.Printf("\ncold TTFB, %s (%s) as generated against the same app %s (%s):\n", coldNow.label, coldNow.tenant, label, coldOther.tenant)
	fmt.Printf("  %-52s %9s %9s\n", "", "p50", "p99")
	rows := []struct {
		name       string
		now, other []float64
	}{{"cold, through the router", t[0].cold, t[6].cold}, {"cold, raw activation", t[1].cold, t[7].cold}}
	if len(bds) > 3 && len(bds[0].exec) > 0 && len(bds[3].exec) > 0 {
		rows = append(rows, struct {
			name       string
			now, other []float64
		}{"systemd \"Starting\" -> \"Started\"", bds[0].exec, bds[3].exec})
	}
	for _, r := range rows {
		now, other := pct(r.now), pct(r.other)
		fmt.Printf("  %-52s %9s %9s\n", r.name+", as generated", fmtMS(now.p50), fmtMS(now.p99))
		fmt.Printf("  %-52s %9s %9s\n", r.name+", the other way", fmtMS(other.p50), fmtMS(other.p99))
		fmt.Printf("  %-52s %9s %9s\n", "  generated - other way", fmtMS(now.p50-other.p50), fmtMS(now.p99-other.p99))
	}
	now, other := pct(t[0].cold), pct(t[6].cold)
	b.sum.info("coldstart", "cold TTFB via router p50, as generated / "+label, fmtMS(now.p50)+" / "+fmtMS(other.p50))
	if mn := pct(t[2].cold); mn.p50 > 0 {
		b.sum.info("coldstart", "cold TTFB via router p50 / minimal, "+label, fmtRatio(other.p50/mn.p50))
	}
}

// coldSetup moves the router's socket to port and puts coldMin under the
// minimal sandbox: its unit in /run/systemd/system overrides the one the
// generator writes into /run/systemd/generator. Both are in place before
// apply loads the units, so no start of coldMin has the full sandbox.
func coldSetup(m *harness.Machine, run guestRun, port int, minimal string) error {
	if err := m.WriteFile("/run/systemd/system/"+coldMin.unit(), []byte("# benchrouter: the minimal sandbox of issue 15\n"+minimal), 0o644); err != nil {
		return err
	}
	_, err := run("sh", "-c", fmt.Sprintf(`set -e
mkdir -p /run/systemd/system/ehecoatl-router.socket.d
printf '[Socket]\nListenStream=\nListenStream=127.0.0.1:%[1]d\n' > /run/systemd/system/ehecoatl-router.socket.d/bench.conf
systemctl daemon-reload
systemctl start ehecoatl-router.socket`, port))
	return err
}

// sandboxProps are what checkSandboxes compares.
const sandboxProps = "FragmentPath,DynamicUser,ProtectSystem,PrivateNetwork,RootDirectory,PrivateUsers,SystemCallFilter"

// checkSandboxes prints the sandbox of both activation apps as systemd
// loaded it and fails unless coldNow has the generator's and coldMin the
// minimal one.
func checkSandboxes(run guestRun) error {
	fmt.Printf("sandboxes as loaded (systemctl show -p %s):\n", sandboxProps)
	for _, a := range []coldApp{coldNow, coldMin} {
		out, err := run("systemctl", "show", "-p", sandboxProps, a.unit())
		if err != nil {
			return err
		}
		p := map[string]string{}
		fmt.Printf("  %s (%s):\n", a.unit(), a.label)
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			k, v, _ := strings.Cut(l, "=")
			p[k] = v
			if len(l) > 100 {
				l = l[:100] + "..."
			}
			fmt.Printf("    %s\n", l)
		}
		ok := p["DynamicUser"] == "yes" && p["ProtectSystem"] == "strict" && p["PrivateNetwork"] == "yes"
		if a == coldMin {
			ok = ok && p["FragmentPath"] == "/run/systemd/system/"+a.unit() && p["RootDirectory"] == "" && p["PrivateUsers"] == "no" && strings.Trim(p["SystemCallFilter"], "~") == ""
		} else {
			ok = ok && strings.HasPrefix(p["FragmentPath"], "/run/systemd/generator/") && p["RootDirectory"] == "/run/ehecoatl-root" && strings.Trim(p["SystemCallFilter"], "~") != ""
		}
		if !ok {
			return fmt.Errorf("%s does not have the %s:\n%s", a.unit(), a.label, out)
		}
	}
	return nil
}

// sample stops t's app (outside the timing), then times a cold GET, which
// starts it, and a warm GET answered by the same process.
func (t *coldTarget) sample(ctx context.Context, stop func(coldApp) error, pids map[string]bool) error {
	if err := stop(t.app); err != nil {
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

// coldReport prints the section's figures and records them: the full
// sandbox's app as before this comparison existed, then the full against
// the minimal sandbox (issue 15's target), then the port: app.
func (b *bench) coldReport(n int, t []*coldTarget, bds []breakdown) {
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
	b.minimalReport(t, bds)
	b.portReport(t, bds)
}

// minimalReport compares the cold starts of the full sandbox with those of
// the minimal one (issue 15: at most 1.5 times): same app, same run,
// interleaved.
func (b *bench) minimalReport(t []*coldTarget, bds []breakdown) {
	fmt.Printf("\ncold TTFB, %s (%s) against %s (%s), connect -> first byte:\n", coldNow.label, coldNow.tenant, coldMin.label, coldMin.tenant)
	fmt.Printf("  %-52s %9s %9s\n", "", "p50", "p99")
	type pair struct {
		name, short string // in the table, in the summary
		full, min   []float64
		target      bool // issue 15's target: p50 full/minimal <= 1.5
	}
	rows := []pair{{"cold, through the router", "cold TTFB via router", t[0].cold, t[2].cold, true},
		{"cold, raw activation", "raw activation cold", t[1].cold, t[3].cold, false}}
	if len(bds[0].exec) > 0 && len(bds[1].exec) > 0 {
		// Where the sandbox's cost should be: systemd sets it up
		// between these two messages.
		rows = append(rows, pair{"systemd \"Starting\" -> \"Started\"", "systemd Starting->Started", bds[0].exec, bds[1].exec, false})
	}
	for _, r := range rows {
		full, min := pct(r.full), pct(r.min)
		ratio := stat{full.p50 / min.p50, full.p99 / min.p99}
		fmt.Printf("  %-52s %9s %9s\n", r.name+", "+coldMin.label, fmtMS(min.p50), fmtMS(min.p99))
		fmt.Printf("  %-52s %9s %9s\n", r.name+", "+coldNow.label, fmtMS(full.p50), fmtMS(full.p99))
		fmt.Printf("  %-52s %9s %9s\n", "  cost (full - minimal)", fmtMS(full.p50-min.p50), fmtMS(full.p99-min.p99))
		fmt.Printf("  %-52s %9s %9s\n", "  ratio full / minimal", fmtRatio(ratio.p50), fmtRatio(ratio.p99))
		b.sum.info("coldstart", r.short+", minimal sandbox p50 / p99", fmtMS(min.p50)+" / "+fmtMS(min.p99))
		if r.target {
			b.sum.check("coldstart", r.short+" p50, full / minimal sandbox", fmtRatio(ratio.p50), "<= 1.50x", ratio.p50 <= 1.5)
			b.sum.info("coldstart", r.short+" p99, full / minimal sandbox", fmtRatio(ratio.p99))
		} else {
			b.sum.info("coldstart", r.short+", full/minimal p50 / p99", fmtRatio(ratio.p50)+" / "+fmtRatio(ratio.p99))
		}
	}
}

// portReport compares the port: app (bridge and app starting, the bridge
// polling for the port) with the activation app, both under the full
// sandbox.
func (b *bench) portReport(t []*coldTarget, bds []breakdown) {
	fmt.Printf("\ncold TTFB, %s (%s) against the activation app (%s), both %s:\n", coldPort.label, coldPort.tenant, coldNow.tenant, coldNow.label)
	fmt.Printf("  %-52s %9s %9s\n", "", "p50", "p99")
	for _, r := range []struct {
		name, short string
		port, act   []float64
	}{{"cold, through the router", "cold TTFB via router", t[4].cold, t[0].cold},
		{"cold, raw activation", "raw activation cold", t[5].cold, t[1].cold}} {
		p, a := pct(r.port), pct(r.act)
		fmt.Printf("  %-52s %9s %9s\n", r.name+", activation app", fmtMS(a.p50), fmtMS(a.p99))
		fmt.Printf("  %-52s %9s %9s\n", r.name+", "+coldPort.label, fmtMS(p.p50), fmtMS(p.p99))
		fmt.Printf("  %-52s %9s %9s\n", "  cost of the bridge (port - activation)", fmtMS(p.p50-a.p50), fmtMS(p.p99-a.p99))
		b.sum.info("coldstart", r.short+", port: app p50 / p99", fmtMS(p.p50)+" / "+fmtMS(p.p99))
		b.sum.info("coldstart", r.short+", port: app - activation p50", fmtMS(p.p50-a.p50))
	}
	if len(bds) > 2 && len(bds[2].trigger) > 0 {
		fmt.Printf("  where the port: app's cold starts go (its app unit's journal, %d matched):\n", len(bds[2].trigger))
		for _, l := range []struct {
			name string
			xs   []float64
		}{{"connect -> app \"Starting\" (trigger, bridge job queued)", bds[2].trigger},
			{"app \"Starting\" -> \"Started\"", bds[2].exec},
			{"app \"Started\" -> hello \"serving\"", bds[2].app}} {
			fmt.Printf("    %-50s %9s %9s\n", l.name, fmtMS(percentile(l.xs, 50)), fmtMS(percentile(l.xs, 99)))
		}
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

// bootGuest boots a systemd 252 with Ehecoatl installed as the packages
// install it (tests/install), plus extra files (guest path: host path),
// named prefix-PID (one machine per run and section).
func (b *bench) bootGuest(ctx context.Context, prefix string, extra map[string]string) (*harness.Machine, error) {
	files := install.Files(b.repo, b.bin)
	// No metrics socket: the guest shares the host's network namespace,
	// where 127.0.0.1:9808 may be another's (a socket that cannot bind
	// fails the boot), and the throughput section measures the metrics.
	off := filepath.Join(b.work, "default-ehecoatl-router")
	if err := os.WriteFile(off, []byte("EHECOATL_METRICS_LISTEN=\"off\"\n"), 0o644); err != nil {
		return nil, err
	}
	files["/etc/default/ehecoatl-router"] = off
	for guest, host := range extra {
		files[guest] = host
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return harness.Boot(ctx, harness.Options{Name: fmt.Sprintf("%s-%d", prefix, os.Getpid()), Files: files, Stdout: os.Stdout})
}
