package apply

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ehecoatl/ehecoatl/dbus"
	"github.com/ehecoatl/ehecoatl/generator"
	"github.com/ehecoatl/ehecoatl/history"
	"github.com/ehecoatl/ehecoatl/layout"
	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/naming"
	"github.com/ehecoatl/ehecoatl/plan"
	"github.com/ehecoatl/ehecoatl/templates"
)

// Systemd is the part of systemd the engine drives. *dbus.Client
// implements it; the tests use a fake.
type Systemd interface {
	Reload(ctx context.Context) error
	ListUnits(ctx context.Context, patterns ...string) ([]dbus.UnitStatus, error)
	// ListUnitsIn lists only the units in one of states: systemd filters,
	// so a check among thousands of units receives the few it is about.
	ListUnitsIn(ctx context.Context, states []string, patterns ...string) ([]dbus.UnitStatus, error)
	StartMany(ctx context.Context, units []string) error
	StopMany(ctx context.Context, units []string) error
	RestartMany(ctx context.Context, units []string) error
	TryRestartMany(ctx context.Context, units []string) error
	ResetFailed(ctx context.Context, unit string) error
	ReloadUnit(ctx context.Context, unit string) error
}

var _ Systemd = (*dbus.Client)(nil)

// Done is what one step did.
type Done struct {
	Op plan.Op `json:"op"`
	// Units the step acted on: for stop, those that were running; for
	// reset-failed, those that had failed; for listen, the sockets that did
	// not listen before.
	Units []string `json:"units,omitempty"`
	// Held: for listen, the apps it left down ("tenant/app (reason)").
	Held []string `json:"held,omitempty"`
	// Changed: the step changed the host.
	Changed bool          `json:"changed"`
	Took    time.Duration `json:"took_ns"`
}

// engine executes steps. The fields a step kind needs are set by the
// caller: Install needs set and out, Reload out, Record want.
type engine struct {
	sd     Systemd
	layout layout.Layout
	set    *manifest.Set
	out    *generator.Output
	want   *plan.State
	// digest is the rendering's (out's, or the record's when the apply
	// did not render): daemon-reload makes the generator's output match it.
	digest string
	// recorded: the record on disk is want already; Record keeps it.
	recorded bool
	// inputs, when set, are what want was rendered from: Record keeps
	// them beside the record. skipped: the apply did not render; the
	// record and its inputs stay as they are.
	inputs  *inputs
	skipped bool
	// progress, when set, hears of each step as it ends.
	progress func(Done)
	// keep is how many previous generations Install keeps; entry is what
	// Record logs of the generation it leaves current (history).
	keep  int
	entry history.Entry
	// lastLine, when set, reads a unit's last journal line (the reason
	// of a failed rollout).
	lastLine func(ctx context.Context, unit string) string

	// timings: how long each step took, changed or not (--timings).
	timings []Timing

	installed bool // an Install step installed a new generation
	// recover: reload-router first rolls what a failed rollout left
	// drained (apply, not start/stop/restart of other apps).
	recover bool
}

// run executes steps in order and stops at the first that fails; it
// returns what the steps before it (and, as far as it got, that one) did.
func (e *engine) run(ctx context.Context, steps []plan.Step) ([]Done, error) {
	var done []Done
	for _, st := range steps {
		t := time.Now()
		d, err := e.step(ctx, st)
		d.Op, d.Took = st.Op, time.Since(t)
		e.timings = append(e.timings, Timing{"step:" + string(st.Op), d.Took})
		if d.Changed || err != nil || len(d.Held) > 0 {
			done = append(done, d)
		}
		if err != nil {
			return done, err
		}
		if (d.Changed || len(d.Held) > 0) && e.progress != nil {
			e.progress(d)
		}
	}
	return done, nil
}

func (e *engine) step(ctx context.Context, st plan.Step) (Done, error) {
	switch st.Op {
	case plan.Install:
		if e.set == nil {
			// Not rendered: the installed generation is the recorded one
			// (installedStamp); only the modes of older ones are checked.
			return Done{}, tightenInstalled(e.layout.Etc(), routerGID())
		}
		changed, err := installKeeping(e.layout.Etc(), e.set, e.out, e.keep)
		if err != nil {
			return Done{}, fmt.Errorf("install manifests into %s: %w", e.layout.Etc(), err)
		}
		e.installed = changed
		return Done{Changed: changed}, nil
	case plan.Reload:
		return e.reload(ctx)
	case plan.Stop:
		running, err := e.units(ctx, st.Units, func(s dbus.UnitStatus) bool { return s.ActiveState != "inactive" })
		if err != nil || len(running) == 0 {
			return Done{}, err
		}
		return Done{Units: running, Changed: true}, e.sd.StopMany(ctx, running)
	case plan.ResetFailed:
		failed, err := e.unitsIn(ctx, []string{"failed"}, st.Units, func(s dbus.UnitStatus) bool { return s.ActiveState == "failed" })
		if err != nil {
			return Done{}, err
		}
		wait := e.triggerWait(ctx, failed)
		var errs []error
		for _, u := range failed {
			errs = append(errs, e.sd.ResetFailed(ctx, u))
		}
		if err := errors.Join(errs...); err != nil || wait <= 0 {
			return Done{Units: failed, Changed: len(failed) > 0}, err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return Done{Units: failed, Changed: true}, ctx.Err()
		}
		return Done{Units: failed, Changed: true}, nil
	case plan.Listen:
		d, err := e.listen(ctx, st.Units)
		d.Held = st.Held
		return d, err
	case plan.StartRouter:
		return e.startRouter(ctx, st.Units)
	case plan.Start:
		if len(st.Units) == 0 {
			return Done{}, nil
		}
		return Done{Units: st.Units, Changed: true}, e.sd.StartMany(ctx, st.Units)
	case plan.Restart, plan.TryRestart:
		if len(st.Units) == 0 {
			return Done{}, nil
		}
		return e.restart(ctx, st.Units, st.Op == plan.TryRestart)
	case plan.ReloadRouter:
		// Instances a failed rollout left drained go back into rotation
		// with the next apply that gets here.
		var undrained bool
		if e.recover {
			var err error
			if undrained, err = e.recoverDrained(ctx); err != nil {
				return Done{}, err
			}
		}
		if !st.Always && !e.installed && !undrained {
			return Done{}, nil
		}
		running, err := e.units(ctx, st.Units, active)
		if err != nil || len(running) == 0 {
			return Done{}, err
		}
		for _, u := range running {
			if err := e.sd.ReloadUnit(ctx, u); err != nil {
				return Done{}, err
			}
		}
		return Done{Units: running, Changed: true}, nil
	case plan.Record:
		if err := e.logGeneration(); err != nil {
			return Done{}, fmt.Errorf("record history: %w", err)
		}
		if e.skipped {
			return Done{}, nil
		}
		if !e.recorded {
			if err := plan.Save(RecordPath(e.layout), e.want); err != nil {
				return Done{}, fmt.Errorf("record applied state: %w", err)
			}
		}
		return Done{}, e.saveInputs()
	}
	return Done{}, fmt.Errorf("unknown step %q", st.Op)
}

func (e *engine) reload(ctx context.Context) (Done, error) {
	dir := e.layout.GeneratorOut()
	if generatedEqual(dir, e.digest) {
		return Done{}, nil
	}
	if err := e.sd.Reload(ctx); err != nil {
		return Done{}, fmt.Errorf("daemon-reload: %w", err)
	}
	if !generatedEqual(dir, e.digest) {
		return Done{Changed: true}, fmt.Errorf("after daemon-reload, %s does not hold the new units: is ehecoatl-generator installed in /usr/lib/systemd/system-generators? (journalctl -k | grep ehecoatl-generator)", layout.GeneratorDir)
	}
	return Done{Changed: true}, nil
}

// listen starts ehecoatl.target when any of sockets does not listen, and
// checks afterwards that every one does.
func (e *engine) listen(ctx context.Context, sockets []string) (Done, error) {
	down, err := e.notActive(ctx, sockets, "ehecoatl-*.socket")
	if err != nil || len(down) == 0 {
		return Done{}, err
	}
	// Starting sockets one D-Bus call at a time costs seconds per thousand
	// on a busy host; the target is one job.
	if err := e.sd.StartMany(ctx, []string{naming.RootTarget}); err != nil {
		return Done{}, fmt.Errorf("start: %w", err)
	}
	failed, err := e.notActive(ctx, down, "ehecoatl-*.socket")
	if err != nil {
		return Done{}, err
	}
	if len(failed) > 0 {
		return Done{Units: down}, fmt.Errorf("%d socket(s) did not start: %s (see: systemctl status %s; journalctl -u %s)", len(failed), Brief(failed), failed[0], failed[0])
	}
	return Done{Units: down, Changed: true}, nil
}

// triggerWait is how long to wait after resetting the failed units before
// their sockets start again: a socket that hit its trigger limit keeps
// counting its triggers across reset-failed (only a daemon-reload made it
// anew), so started within TriggerLimitIntervalSec= of its failure, the
// first request of a fixed app fails it again. Command and env changes
// need no daemon-reload, so an apply right after the failure waits out
// the rest of that interval (1 s at most, templates/socket.conf).
func (e *engine) triggerWait(ctx context.Context, failed []string) time.Duration {
	ur, ok := e.sd.(unitReader)
	var socks []string
	for _, u := range failed {
		if strings.HasSuffix(u, ".socket") {
			socks = append(socks, u)
		}
	}
	if !ok || len(socks) == 0 {
		return 0
	}
	infos, err := ur.Units(ctx, socks)
	if err != nil {
		return triggerInterval()
	}
	var wait time.Duration
	for _, u := range infos {
		if u != nil && u.Result == "trigger-limit-hit" {
			wait = max(wait, triggerInterval()-time.Since(u.InactiveEnter))
		}
	}
	return min(wait, triggerInterval())
}

// triggerInterval is the app sockets' TriggerLimitIntervalSec=, read from
// the template when first needed: every ehecoatl command links apply
// (the bridge of a port: app too, at each cold start), few reset a
// socket.
var triggerInterval = sync.OnceValue(func() time.Duration {
	u, err := templates.Shared(templates.Socket)
	if err != nil {
		panic(err)
	}
	v := u.Lookup("Socket", "TriggerLimitIntervalSec")
	d, err := time.ParseDuration(v[len(v)-1])
	if err != nil {
		panic(fmt.Sprintf("templates/socket.conf: TriggerLimitIntervalSec=%s: %v", v[len(v)-1], err))
	}
	return d
})

// unitReader reads full unit properties; *dbus.Client has it (the fakes
// of the tests need not).
type unitReader interface {
	Units(ctx context.Context, names []string) ([]*dbus.UnitInfo, error)
}

// startRouter starts the router's socket when it is enabled and does not
// listen (stopped by hand, or reset from failed): an operator who disabled
// it keeps it off.
func (e *engine) startRouter(ctx context.Context, units []string) (Done, error) {
	ur, ok := e.sd.(unitReader)
	if !ok || len(units) == 0 {
		return Done{}, nil
	}
	down, err := e.notActive(ctx, units, units...)
	if err != nil || len(down) == 0 {
		return Done{}, err
	}
	infos, err := ur.Units(ctx, down)
	if err != nil {
		return Done{}, fmt.Errorf("read %s: %w", Brief(down), err)
	}
	var start []string
	for _, u := range infos {
		if u != nil && Enabled(u.UnitFileState) {
			start = append(start, u.Name)
		}
	}
	if len(start) == 0 {
		return Done{}, nil
	}
	if err := e.sd.StartMany(ctx, start); err != nil {
		return Done{Units: start}, fmt.Errorf("start %s: %w (see: systemctl status %s)", Brief(start), err, start[0])
	}
	return Done{Units: start, Changed: true}, nil
}

// Enabled reports whether a UnitFileState means the unit is meant to run
// (systemctl enable, or --runtime).
func Enabled(state string) bool { return state == "enabled" || state == "enabled-runtime" }

// notActive returns those of units that are not active, among the units
// that patterns list (one listing, not one call per unit).
func (e *engine) notActive(ctx context.Context, units []string, patterns ...string) ([]string, error) {
	l, err := e.sd.ListUnitsIn(ctx, activeStates, patterns...)
	if err != nil {
		return nil, fmt.Errorf("list units: %w", err)
	}
	up := map[string]bool{}
	for _, s := range l {
		up[s.Name] = active(s)
	}
	var down []string
	for _, u := range units {
		if !up[u] {
			down = append(down, u)
		}
	}
	return down, nil
}

// units lists the loaded units matching patterns for which keep is true,
// sorted by name.
func (e *engine) units(ctx context.Context, patterns []string, keep func(dbus.UnitStatus) bool) ([]string, error) {
	return e.unitsIn(ctx, nil, patterns, keep)
}

// unitsIn is units among those in one of states (nil: any).
func (e *engine) unitsIn(ctx context.Context, states, patterns []string, keep func(dbus.UnitStatus) bool) ([]string, error) {
	if len(patterns) == 0 {
		return nil, nil
	}
	l, err := e.sd.ListUnitsIn(ctx, states, patterns...)
	if err != nil {
		return nil, fmt.Errorf("list units: %w", err)
	}
	var out []string
	for _, s := range l {
		if keep(s) {
			out = append(out, s.Name)
		}
	}
	return out, nil
}

// activeStates are the ActiveStates active accepts.
var activeStates = []string{"active", "activating", "reloading"}

func active(s dbus.UnitStatus) bool { return slices.Contains(activeStates, s.ActiveState) }

// generatedEqual reports whether the generator's output directory holds
// the rendered units, by the digest the generator writes last (reading
// back thousands of unit files costs more than the rest of a no-op apply).
func generatedEqual(dir, digest string) bool {
	b, err := os.ReadFile(filepath.Join(dir, generator.DigestFile))
	return err == nil && strings.TrimSpace(string(b)) == digest
}

// Brief lists units for people: the first six, then how many more.
func Brief(units []string) string {
	if len(units) <= 6 {
		return strings.Join(units, " ")
	}
	return strings.Join(units[:6], " ") + fmt.Sprintf(" ... and %d more", len(units)-6)
}

// logGeneration records in the history that the current generation
// became current, when this apply installed it or the log does not know
// it yet (an apply killed after its install), and forgets the generations
// Install removed. Before the applied record, so a failure here is redone
// by the next apply.
func (e *engine) logGeneration() error {
	etc := e.layout.Etc()
	cur := history.CurrentID(etc)
	path := HistoryPath(e.layout)
	log, err := history.Load(path)
	var bad *history.CorruptError
	if errors.As(err, &bad) {
		// A log that cannot be read must not fail every apply from now
		// on: it is moved aside, not deleted, and a new one begun.
		if err := os.Rename(path, fmt.Sprintf("%s.corrupt-%d", path, time.Now().Unix())); err != nil {
			return err
		}
		log, err = &history.Log{}, nil
	}
	if err != nil {
		return err
	}
	known := len(log.Entries) > 0 && log.Entries[0].Generation == cur
	if cur == "" || known && !e.installed {
		return nil
	}
	ent := e.entry
	ent.Generation = cur
	ent.Applied = time.Now().UTC()
	log.Add(ent)
	log.Keep(func(id string) bool {
		fi, err := os.Stat(filepath.Join(etc, history.GenerationsDir, id))
		return err == nil && fi.IsDir()
	})
	return history.Save(path, log)
}

// saveInputs keeps the inputs of the state just recorded beside it, with
// the generation Install left current (installedStamp, now that it ran):
// the next apply skips rendering only while that is still so. Without
// inputs, or when the generation cannot be read, none are kept, and the
// next apply renders.
func (e *engine) saveInputs() error {
	in := e.inputs
	if in != nil {
		var err error
		if in.Generation, in.Installed, err = installedStamp(e.layout.Etc()); err != nil {
			in = nil
		}
	}
	if err := saveInputs(e.layout, in); err != nil {
		return fmt.Errorf("record inputs: %w", err)
	}
	return nil
}
