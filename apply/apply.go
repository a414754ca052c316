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
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"time"

	"github.com/ehecoatl/ehecoatl/generator"
	"github.com/ehecoatl/ehecoatl/history"
	"github.com/ehecoatl/ehecoatl/layout"
	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/naming"
	"github.com/ehecoatl/ehecoatl/plan"
	"github.com/ehecoatl/ehecoatl/preflight"
	"github.com/ehecoatl/ehecoatl/stops"
)

// Options of an apply.
type Options struct {
	Layout    layout.Layout
	Generator generator.Options
	// Preflight, when set, is the host apply checks before it changes
	// anything (package preflight); a failed check refuses the apply.
	Preflight *preflight.Host
	// Progress, when set, hears of each step that changed something, as
	// it ends (the CLI prints them).
	Progress func(Done)
	// LastLine, when set, reads a unit's last journal line: a failed
	// rollout names it.
	LastLine func(ctx context.Context, unit string) string
	// Prune lets an apply remove every installed tenant, or more than
	// half of them (plan.Plan.PruneNeeded); without it such an apply is
	// refused with nothing changed.
	Prune bool
	// Planned, when set, hears of the plan before anything is executed
	// (rollback prints it first), also of one refused for Prune.
	Planned func(*plan.Plan)
	// Keep is how many previous generations an install keeps (0:
	// history.DefaultKeep; the CLI reads history.Keep).
	Keep int
	// Full validates and renders even when no input changed since the
	// last apply (apply --full, FullEnv).
	Full bool
	// command is what the history says installed the generation; "" is
	// "apply DIR".
	command string
}

// PruneError refuses an apply that would remove most installed tenants
// without Options.Prune.
type PruneError struct {
	Plan *plan.Plan
	// Rollback: refused to `ehecoatl rollback`, not apply.
	Rollback bool
}

func (e *PruneError) Error() string {
	if e.Rollback {
		return fmt.Sprintf("rollback: %s; nothing was changed (hint: check the generation in ehecoatl history; if this is meant, run rollback --prune)", e.Plan.Pruning())
	}
	return fmt.Sprintf("apply: %s; nothing was changed (hint: check the directory; if this is meant, run apply --prune)", e.Plan.Pruning())
}

// Result says what an apply did.
type Result struct {
	Plan *plan.Plan
	// Warnings are the validation warnings of the directory, as
	// `ehecoatl validate` prints them (also in Plan, once planned).
	Warnings []manifest.Finding
	// Preflight are the results of the host checks, when Options.Preflight
	// asked for them.
	Preflight []preflight.Result
	// Done are the steps that changed something (and the one that failed),
	// in order.
	Done []Done
	// Timings of the phases, for --timings and the benchmarks.
	Timings []Timing
	// Render says whether the directory was validated and rendered, and
	// why (RenderSkipped, or "full: REASON").
	Render string
}

// Timing is the duration of one phase of an apply.
type Timing struct {
	Phase    string        `json:"phase"`
	Duration time.Duration `json:"duration"`
}

func (r *Result) took(phase string, since time.Time) {
	r.Timings = append(r.Timings, Timing{phase, time.Since(since)})
}

// timer records consecutive phases into a Result; a nil timer records
// nothing.
type timer struct {
	res  *Result
	last time.Time
}

func (t *timer) lap(phase string) {
	if t == nil {
		return
	}
	now := time.Now()
	t.res.Timings = append(t.res.Timings, Timing{phase, now.Sub(t.last)})
	t.last = now
}

// Changed reports whether the apply changed anything on the host.
func (r *Result) Changed() bool {
	for _, d := range r.Done {
		if d.Changed {
			return true
		}
	}
	return false
}

// Did returns the step of kind op that changed something, if any.
func (r *Result) Did(op plan.Op) (Done, bool) {
	for _, d := range r.Done {
		if d.Op == op && d.Changed {
			return d, true
		}
	}
	return Done{}, false
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
// secret files are judged too, and their contents hashed into the state
// (a rotated secret restarts its app). strict: a secret that cannot be
// inspected refuses the directory (apply) instead of being skipped
// (plan). A missing secret refuses it when strict or run as root
// (manifest.SecretFiles.MustExist). The report carries the warnings.
// obs, when set, notes every read (Inputs).
func desiredHere(dir string, opts Options, strict bool, tm *timer, obs *manifest.Observer) (*manifest.Set, *generator.Output, *plan.State, *manifest.Report, error) {
	set, rep := manifest.LoadObserved(dir, obs)
	if !rep.HasErrors() {
		manifest.CheckSecretFiles(set, rep, manifest.SecretFiles{Dir: opts.Layout.Secrets(), Strict: strict, MustExist: strict || os.Geteuid() == 0, Observe: obs})
	}
	tm.lap("validate")
	set, out, st, err := render(dir, set, rep, opts.Generator)
	tm.lap("render")
	if err != nil {
		return nil, nil, nil, rep, err
	}
	if err := hashSecrets(set, st, opts.Layout.Secrets(), strict, obs); err != nil {
		return nil, nil, nil, rep, err
	}
	return set, out, st, rep, nil
}

// hashSecrets records a hash of each secret file's content in st. The
// files passed CheckSecretFiles; O_NOFOLLOW keeps a link swapped in since
// from being read. Without strict a file this user cannot read is left
// unhashed: plan then cannot tell a rotation.
func hashSecrets(set *manifest.Set, st *plan.State, dir string, strict bool, obs *manifest.Observer) error {
	for _, t := range set.Tenants {
		for _, a := range t.Apps {
			for _, name := range a.Secrets {
				b, err := obs.ReadNoFollow(filepath.Join(dir, t.Name, name))
				if err != nil {
					if strict {
						return fmt.Errorf("apply: secret %q of %s/%s: %w", name, t.Name, a.Name, err)
					}
					continue
				}
				st.SetSecret(t.Name, a.Name, name, b)
			}
		}
	}
	return nil
}

// warnings are the findings of rep below error, as validate prints them.
func warnings(rep *manifest.Report) []manifest.Finding {
	out := []manifest.Finding{}
	if rep == nil {
		return out
	}
	for _, f := range rep.Findings {
		if f.Severity != manifest.Error {
			out = append(out, f)
		}
	}
	return out
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

// HistoryPath is where the generation log lives.
func HistoryPath(l layout.Layout) string { return filepath.Join(l.State(), "history.json") }

// Current returns the state apply last completed, or, without a record
// (first apply, older install), what the installed manifests render to.
func Current(l layout.Layout, gen generator.Options) (*plan.State, error) {
	st, _, err := current(l, gen)
	return st, err
}

// current is Current, and whether the state is the record as it is on
// disk (not described from the installed manifests, not rendered).
func current(l layout.Layout, gen generator.Options) (*plan.State, bool, error) {
	st, err := plan.Load(RecordPath(l))
	if err != nil {
		return nil, false, err
	}
	if st != nil {
		if !st.Undescribed() {
			return st, true, nil
		}
		// A record of an older apply hashes units, not fields: the
		// installed manifests (that apply's, unless it was killed after
		// installing) say which fields a plan compares against.
		if _, _, inst, err := Desired(l.Etc(), gen); err == nil {
			st.Describe(inst)
		}
		return st, false, nil
	}
	if _, err := os.Stat(filepath.Join(l.Etc(), "tenants")); err != nil {
		return nil, false, nil
	}
	_, _, st, err = Desired(l.Etc(), gen)
	var inv *InvalidError
	if errors.As(err, &inv) {
		// An invalid installed set cannot be running as written; compare
		// against nothing, so every desired unit is started.
		return nil, false, nil
	}
	return st, false, err
}

// hold applies the operator's stops to a rendering and its state: their
// sockets lose their ehecoatl.target.wants links as the boot-time
// generator drops them (so the digests agree), and plan leaves them down.
func hold(l layout.Layout, out *generator.Output, want *plan.State) (stops.Record, error) {
	rec, err := stops.Load(l.Stops())
	if err != nil {
		return rec, fmt.Errorf("apply: %w", err)
	}
	generator.Hold(out, rec.Stopped)
	want.Hold(rec.Stopped)
	return rec, nil
}

// Plan computes what applying dir would do.
func Plan(dir string, opts Options) (*plan.Plan, error) {
	_, out, want, rep, err := desiredHere(dir, opts, false, nil, nil)
	if err != nil {
		return nil, err
	}
	if _, err := hold(opts.Layout, out, want); err != nil {
		return nil, err
	}
	have, err := Current(opts.Layout, opts.Generator)
	if err != nil {
		return nil, err
	}
	p := plan.Diff(have, want)
	p.Warnings = warnings(rep)
	notePerWorkerState(p, want, opts.Layout)
	return p, nil
}

// Apply makes the host run dir: it validates and renders dir, plans
// against what runs, and executes the plan's steps. Nothing changes when
// dir is invalid or systemd cannot be reached.
func Apply(ctx context.Context, dir string, sd Systemd, opts Options) (*Result, error) {
	t0 := time.Now()
	res := &Result{Render: renderAsked}
	if !opts.Full {
		done, why, err := applyUnchanged(ctx, dir, sd, opts, t0)
		if done != nil || err != nil {
			return done, err
		}
		// What finding that an input changed cost (replaying the reads),
		// apart from the validation it leads to.
		res.Render = why
		res.took("inputs", t0)
	}
	tm := &timer{res: res, last: time.Now()}
	obs := manifest.NewObserver()
	set, output, want, rep, err := desiredHere(dir, opts, true, tm, obs)
	if err != nil {
		return nil, err
	}
	res.Warnings = warnings(rep)
	if opts.Preflight != nil {
		res.Preflight = preflight.Run(ctx, *opts.Preflight, preflight.NeedsOf(set))
		if failed := preflight.Failed(res.Preflight); len(failed) > 0 {
			return res, fmt.Errorf("apply: %w", &preflight.Error{Failed: failed})
		}
	}
	tm.lap("preflight")
	unlock, err := lock(opts.Layout)
	if err != nil {
		return nil, err
	}
	defer unlock()
	srec, err := hold(opts.Layout, output, want)
	if err != nil {
		return nil, err
	}
	in := inputsOf(want, obs, dir, opts, srec, output.Digest(), set, rep)
	have, recorded, err := current(opts.Layout, opts.Generator)
	if err != nil {
		return nil, err
	}
	tm.lap("current")
	p := plan.Diff(have, want)
	p.Warnings = res.Warnings
	notePerWorkerState(p, want, opts.Layout)
	res.Plan = p
	tm.lap("plan")
	res.took("validate+render+plan", t0)
	if opts.Planned != nil {
		opts.Planned(p)
	}
	if p.PruneNeeded && !opts.Prune {
		return res, &PruneError{Plan: p, Rollback: strings.HasPrefix(opts.command, "rollback")}
	}
	defer res.took("total", t0)

	// Reach systemd before changing anything: without it, nothing must be
	// installed either.
	if _, err := sd.ListUnits(ctx, naming.RootTarget); err != nil {
		return res, fmt.Errorf("apply: systemd: %w (nothing was changed)", err)
	}
	e := newEngine(sd, dir, opts, p)
	e.set, e.out, e.digest, e.want, e.inputs = set, output, output.Digest(), want, in
	// The record holds the state wanted already (a no-op): record need
	// not encode thousands of apps to find it equal.
	e.recorded = recorded && reflect.DeepEqual(have, want)
	t1 := time.Now()
	res.Done, err = e.run(ctx, p.Steps)
	res.took("steps", t1)
	res.Timings = append(res.Timings, e.timings...)
	if err != nil {
		return res, fmt.Errorf("apply: %w", err)
	}
	return res, nil
}

// newEngine is the engine of an apply of dir that executes p.
func newEngine(sd Systemd, dir string, opts Options, p *plan.Plan) *engine {
	e := &engine{sd: sd, layout: opts.Layout, progress: opts.Progress,
		lastLine: opts.LastLine, recover: true, keep: opts.Keep, entry: history.Entry{By: stops.Operator(), Command: opts.command, Summary: p.Summary()}}
	if e.keep <= 0 {
		e.keep = history.DefaultKeep
	}
	if e.entry.Command == "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			abs = dir
		}
		e.entry.Command = "apply " + abs
	}
	return e
}

// notePerWorkerState adds to p's state notes the per-worker state
// directories an older Ehecoatl made (ehecoatl-acme-web-N) beside an app
// that has state: they are no longer mounted, and never deleted; the
// operator moves their files (docs/OPERATIONS.md "State"). The directory
// is read once, not once per app: a host may hold thousands.
func notePerWorkerState(p *plan.Plan, want *plan.State, l layout.Layout) {
	entries, _ := os.ReadDir(l.AppState())
	old := map[string][]string{} // naming.App.WorkerStatePrefix -> directories
	for _, e := range entries {
		name := e.Name()
		i := strings.LastIndexByte(name, '-')
		if i < 0 || i == len(name)-1 || strings.Trim(name[i+1:], "0123456789") != "" {
			continue
		}
		old[name[:i+1]] = append(old[name[:i+1]], filepath.Join(naming.PrivateStateDir, name))
	}
	if len(old) == 0 {
		return
	}
	for tn, ts := range want.Tenants {
		for an, as := range ts.Apps {
			names := naming.App{Tenant: tn, Name: an}
			dirs := old[names.WorkerStatePrefix()]
			if as.StateDir == "" || len(dirs) == 0 {
				continue
			}
			id := tn + "/" + an
			note := p.State[id]
			if note == "" {
				note = "kept in " + as.StateDir
			}
			p.State[id] = fmt.Sprintf("%s; %s of an older Ehecoatl (one per worker) kept but not mounted: move their files into %s (docs/OPERATIONS.md \"State\")",
				note, strings.Join(dirs, ", "), as.StateDir)
		}
	}
}

// Target is what `ehecoatl start|stop|restart` acts on.
type Target struct {
	// Tenant, and App "" for the whole tenant.
	Tenant, App string
	// Apps are the units of the apps it names.
	Apps []naming.Units
	// Suspended: the tenant's manifest suspends it.
	Suspended bool
}

// Control runs `ehecoatl start|stop|restart` for a target of the
// installed set, in the same engine as apply. stop records an operator
// stop and start (or restart) clears it (package stops), under apply's
// lock; then they bring the generator's links in line with the record (a
// daemon-reload when they differ) and reload the router, so that neither
// the next apply nor a reboot starts a stopped app, and the router
// answers its domains with 503 (docs/OPERATIONS.md "Stopping and
// suspending").
func Control(ctx context.Context, verb string, t Target, set *manifest.Set, sd Systemd, opts Options) ([]Done, error) {
	var sockets, services []string
	for _, a := range t.Apps {
		sockets = append(sockets, a.Sockets...)
		services = append(services, a.Services...)
	}
	steps, err := plan.Control(verb, sockets, services)
	if err != nil {
		return nil, err
	}
	unlock, err := lock(opts.Layout)
	if err != nil {
		return nil, err
	}
	defer unlock()
	path := opts.Layout.Stops()
	rec, err := stops.Load(path)
	if err != nil {
		return nil, err
	}
	// start and restart both mean "serve it": both clear the stop. One
	// app of a tenant stopped as a whole is not served alone.
	if verb != "stop" {
		if t.Suspended {
			return nil, fmt.Errorf("%s is suspended in its manifest (suspended: true in tenants/%s.yaml): remove that line and apply to serve it again", t.Tenant, t.Tenant)
		}
		if s, ok := rec.Of(t.Tenant, t.App); ok && t.App != "" && s.App == "" {
			return nil, fmt.Errorf("the whole tenant %s is stopped by %s since %s: 'ehecoatl start %s' starts it", t.Tenant, s.By, s.Since.Format(time.RFC3339), t.Tenant)
		}
	}
	var changed bool
	if verb == "stop" {
		changed = rec.Add(stops.Stop{Tenant: t.Tenant, App: t.App, By: stops.Operator(), Since: time.Now().UTC().Truncate(time.Second)})
	} else {
		changed = len(rec.Remove(t.Tenant, t.App)) > 0
	}
	if changed {
		if err := stops.Save(path, rec, naming.RouterGroup); err != nil {
			return nil, err
		}
	}
	e := &engine{sd: sd, layout: opts.Layout, set: set, progress: opts.Progress, lastLine: opts.LastLine}
	if verb != "restart" || changed {
		// The links follow the record now, not at the next apply: a start
		// of ehecoatl.target (apply's listen, a boot) must not start what
		// was just stopped. An installed set that cannot be rendered has
		// no links to fix.
		if set != nil {
			if out, err := generator.Generate(set, opts.Generator); err == nil {
				generator.Hold(out, rec.Stopped)
				e.out, e.digest = out, out.Digest()
				steps = append([]plan.Step{{Op: plan.Reload}}, steps...)
			}
		}
		steps = append(steps, plan.Step{Op: plan.ReloadRouter, Units: []string{naming.RouterUnit}, Always: true})
	}
	return e.run(ctx, steps)
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
