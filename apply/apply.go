// Package apply makes a host run what a manifest directory describes
// (docs/DESIGN.md "Apply: atomic manifests, convergence after a crash"):
// validate everything, install the manifests atomically, reload
// systemd only when the rendered units changed, then start, restart and
// stop exactly the units the plan names.
//
// Convergence after a crash comes from the applied-state record
// (/var/lib/ehecoatl/applied.json): it is written last, so an apply killed
// at any point leaves the old record, and the next apply recomputes and
// redoes every step, each of which is idempotent.
package apply

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/ehecoatl/ehecoatl/generator"
	"github.com/ehecoatl/ehecoatl/layout"
	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/naming"
	"github.com/ehecoatl/ehecoatl/plan"
)

// Systemd is the part of systemd apply drives; *dbus.Conn implements it
// through Adapter.
type Systemd interface {
	Reload(ctx context.Context) error
	StartMany(ctx context.Context, units []string) error
	StopMany(ctx context.Context, units []string) error
	TryRestartMany(ctx context.Context, units []string) error
	// ActiveUnits returns which of the named units are active (or
	// activating/reloading) right now.
	ActiveUnits(ctx context.Context, patterns ...string) (map[string]bool, error)
	// FailedUnits returns the loaded units in the failed state.
	FailedUnits(ctx context.Context, patterns ...string) ([]string, error)
	// ResetFailed clears the failed state and start-rate counters.
	ResetFailed(ctx context.Context, units []string) error
	// ReloadIfActive reloads a unit (the router) when it runs.
	ReloadIfActive(ctx context.Context, unit string) (bool, error)
}

// Options of an apply.
type Options struct {
	Layout    layout.Layout
	Generator generator.Options
	// Out receives the human report; nil discards it.
	Out io.Writer
}

// Result says what an apply did.
type Result struct {
	Plan           *plan.Plan
	Installed      bool
	Reloaded       bool
	Started        []string
	Restarted      []string
	Stopped        []string
	Reset          []string
	RouterReloaded bool
	// Timings of the phases, for --timings and the benchmarks.
	Timings []Timing
}

// Timing is the duration of one phase of an apply.
type Timing struct {
	Phase    string        `json:"phase"`
	Duration time.Duration `json:"duration"`
}

func (r *Result) took(phase string, since time.Time) {
	r.Timings = append(r.Timings, Timing{phase, time.Since(since)})
}

// Changed reports whether the apply changed anything on the host.
func (r *Result) Changed() bool {
	return r.Installed || r.Reloaded || len(r.Started)+len(r.Restarted)+len(r.Stopped)+len(r.Reset) > 0 || r.RouterReloaded
}

// InvalidError carries the validation report of a rejected directory.
type InvalidError struct {
	Dir    string
	Report *manifest.Report
}

func (e *InvalidError) Error() string {
	n := 0
	for _, f := range e.Report.Findings {
		if f.Severity == manifest.Error {
			n++
		}
	}
	return fmt.Sprintf("apply: %s: %d error(s), nothing was changed", e.Dir, n)
}

// Desired loads and renders a manifest directory: the validated set (whose
// manifest bytes Install writes), its rendering (the units, and the env
// files Install writes) and the state plan computes from the two.
func Desired(dir string, gen generator.Options) (*manifest.Set, *generator.Output, *plan.State, error) {
	set, rep := manifest.Load(dir)
	return render(dir, set, rep, gen)
}

// desiredHere is Desired for a directory about to run on this host: its
// secret files are judged too. strict: a secret that cannot be inspected
// refuses the directory (apply) instead of being skipped (plan).
func desiredHere(dir string, opts Options, strict bool) (*manifest.Set, *generator.Output, *plan.State, error) {
	set, rep := manifest.Load(dir)
	if !rep.HasErrors() {
		manifest.CheckSecretFiles(set, rep, manifest.SecretFiles{Dir: opts.Layout.Secrets(), Strict: strict})
	}
	return render(dir, set, rep, opts.Generator)
}

func render(dir string, set *manifest.Set, rep *manifest.Report, gen generator.Options) (*manifest.Set, *generator.Output, *plan.State, error) {
	if rep.HasErrors() {
		return nil, nil, nil, &InvalidError{Dir: dir, Report: rep}
	}
	out, err := generator.Generate(set, gen)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("apply: %s: %w", dir, err)
	}
	st, err := plan.Render(set, out)
	if err != nil {
		return nil, nil, nil, err
	}
	return set, out, st, nil
}

// RecordPath is where the applied-state record lives.
func RecordPath(l layout.Layout) string { return filepath.Join(l.State(), "applied.json") }

// Current returns the state apply last completed, or, without a record
// (first apply, older install), what the installed manifests render to.
func Current(l layout.Layout, gen generator.Options) (*plan.State, error) {
	st, err := plan.Load(RecordPath(l))
	if err != nil || st != nil {
		return st, err
	}
	if _, err := os.Stat(filepath.Join(l.Etc(), "tenants")); err != nil {
		return nil, nil
	}
	_, _, st, err = Desired(l.Etc(), gen)
	var inv *InvalidError
	if errors.As(err, &inv) {
		// An invalid installed set cannot be running as written; compare
		// against nothing, so every desired unit is started.
		return nil, nil
	}
	return st, err
}

// Plan computes what applying dir would do.
func Plan(dir string, opts Options) (*plan.Plan, error) {
	_, _, want, err := desiredHere(dir, opts, false)
	if err != nil {
		return nil, err
	}
	have, err := Current(opts.Layout, opts.Generator)
	if err != nil {
		return nil, err
	}
	return plan.Diff(have, want), nil
}

// Apply makes the host run dir. Nothing changes when dir is invalid.
func Apply(ctx context.Context, dir string, sd Systemd, opts Options) (*Result, error) {
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	t0 := time.Now()
	set, output, want, err := desiredHere(dir, opts, true)
	if err != nil {
		return nil, err
	}
	unlock, err := lock(opts.Layout)
	if err != nil {
		return nil, err
	}
	defer unlock()
	have, err := Current(opts.Layout, opts.Generator)
	if err != nil {
		return nil, err
	}
	p := plan.Diff(have, want)
	res := &Result{Plan: p}
	res.took("validate+render+plan", t0)
	defer res.took("total", t0)

	// Reach systemd before changing anything: without it, nothing must be
	// installed either.
	if _, err := sd.ActiveUnits(ctx, naming.RootTarget); err != nil {
		return res, fmt.Errorf("apply: systemd: %w (nothing was changed)", err)
	}
	if res.Installed, err = Install(opts.Layout.Etc(), set, output); err != nil {
		return res, fmt.Errorf("apply: install manifests into %s: %w", opts.Layout.Etc(), err)
	}
	if res.Installed {
		fmt.Fprintf(out, "installed manifests into %s\n", layout.EtcDir)
	}
	genDir := opts.Layout.GeneratorOut()
	if !generatedEqual(genDir, output) {
		t := time.Now()
		err := sd.Reload(ctx)
		res.took("daemon-reload", t)
		if err != nil {
			return res, fmt.Errorf("apply: daemon-reload: %w", err)
		}
		res.Reloaded = true
		fmt.Fprintln(out, "reloaded systemd (unit files changed)")
		if !generatedEqual(genDir, output) {
			return res, fmt.Errorf("apply: after daemon-reload, %s does not hold the new units: is ehecoatl-generator installed in /usr/lib/systemd/system-generators? (journalctl -k | grep ehecoatl-generator)", layout.GeneratorDir)
		}
	}
	t1 := time.Now()
	if len(p.Stop) > 0 {
		if err := sd.StopMany(ctx, p.Stop); err != nil {
			return res, fmt.Errorf("apply: stop: %w", err)
		}
		res.Stopped = p.Stop
		fmt.Fprintf(out, "stopped %d unit(s): %s\n", len(p.Stop), brief(p.Stop))
	}
	// An apply means "run this": failed units get a fresh start (a fixed
	// manifest must not stay behind start-limit-hit), and failed units of
	// removed apps disappear.
	failed, err := sd.FailedUnits(ctx, "ehecoatl-*")
	if err != nil {
		return res, fmt.Errorf("apply: list failed units: %w", err)
	}
	if len(failed) > 0 {
		if err := sd.ResetFailed(ctx, failed); err != nil {
			return res, fmt.Errorf("apply: reset-failed: %w", err)
		}
		res.Reset = failed
		fmt.Fprintf(out, "reset %d failed unit(s): %s\n", len(failed), brief(failed))
	}
	// Every desired socket must listen, not only the new ones: that is
	// what makes an apply after a crash converge.
	active, err := sd.ActiveUnits(ctx, "ehecoatl-*.socket")
	if err != nil {
		return res, fmt.Errorf("apply: list sockets: %w", err)
	}
	var start []string
	for _, s := range allSockets(want) {
		if !active[s] {
			start = append(start, s)
		}
	}
	if len(start) > 0 {
		// One job for all of them: ehecoatl.target wants every app socket.
		// Starting sockets one D-Bus call at a time costs seconds per
		// thousand on a busy host.
		if err := sd.StartMany(ctx, []string{naming.RootTarget}); err != nil {
			return res, fmt.Errorf("apply: start: %w", err)
		}
		active, err := sd.ActiveUnits(ctx, "ehecoatl-*.socket")
		if err != nil {
			return res, fmt.Errorf("apply: list sockets: %w", err)
		}
		var failed []string
		for _, s := range start {
			if !active[s] {
				failed = append(failed, s)
			}
		}
		if len(failed) > 0 {
			return res, fmt.Errorf("apply: %d socket(s) did not start: %s (see: systemctl status %s; journalctl -u %s)", len(failed), brief(failed), failed[0], failed[0])
		}
		res.Started = start
		fmt.Fprintf(out, "started %d socket(s): %s\n", len(start), brief(start))
	}
	if len(p.Restart) > 0 {
		if err := sd.TryRestartMany(ctx, p.Restart); err != nil {
			return res, fmt.Errorf("apply: restart: %w", err)
		}
		res.Restarted = p.Restart
		fmt.Fprintf(out, "restarted (if running) %d unit(s): %s\n", len(p.Restart), brief(p.Restart))
	}
	if p.RoutesChanged || res.Installed {
		ok, err := sd.ReloadIfActive(ctx, layout.RouterUnit)
		if err != nil {
			return res, fmt.Errorf("apply: reload router: %w", err)
		}
		if ok {
			res.RouterReloaded = true
			fmt.Fprintln(out, "reloaded the router's table")
		}
	}
	res.took("start/stop/restart", t1)
	if err := plan.Save(RecordPath(opts.Layout), want); err != nil {
		return res, fmt.Errorf("apply: record applied state: %w", err)
	}
	if !res.Changed() {
		fmt.Fprintln(out, "nothing changed: the host already runs these manifests")
	}
	return res, nil
}

func allSockets(st *plan.State) []string {
	var out []string
	for _, t := range st.Tenants {
		for _, a := range t.Apps {
			out = append(out, a.Sockets...)
		}
	}
	sort.Strings(out)
	return out
}

// generatedEqual reports whether the generator's output directory holds
// the rendered units, by the digest the generator writes last (reading
// back thousands of unit files costs more than the rest of a no-op apply).
func generatedEqual(dir string, o *generator.Output) bool {
	b, err := os.ReadFile(filepath.Join(dir, generator.DigestFile))
	return err == nil && strings.TrimSpace(string(b)) == o.Digest()
}

func brief(units []string) string {
	if len(units) <= 6 {
		return strings.Join(units, " ")
	}
	return strings.Join(units[:6], " ") + fmt.Sprintf(" ... and %d more", len(units)-6)
}

// lock serialises applies on one host with flock(2) on the state directory.
func lock(l layout.Layout) (func(), error) {
	if err := os.MkdirAll(l.State(), 0o755); err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(l.State(), "apply.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("apply: another apply is running (lock %s held)", f.Name())
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
