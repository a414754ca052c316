package apply

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ehecoatl/ehecoatl/dbus"
	"github.com/ehecoatl/ehecoatl/drains"
	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/naming"
	"github.com/ehecoatl/ehecoatl/status"
)

// HealthDeadline is how long a restarted instance has to pass its check
// (docs/OPERATIONS.md "Deploys").
const HealthDeadline = 30 * time.Second

// drainPoll is how often a rollout reads the router's drained report.
const drainPoll = 20 * time.Millisecond

// instance is one worker of an app: the units that restart together (the
// service, and the bridge of a port: app).
type instance struct {
	worker string // "" for an app of one worker
	units  []string
}

// appRoll is the part of a restart step that belongs to one app.
type appRoll struct {
	tenant, name string
	app          *manifest.App // nil: not in the set (restart all at once)
	instances    []instance
}

// restart runs a restart or try-restart step as rollouts, in waves: wave
// k drains the k-th instance of every app in the router (one record
// update, one reload), waits for their requests to end, restarts them
// (one batch of jobs), checks each, and puts those that passed back in
// rotation, before wave k+1. So an app's instances restart one at a time,
// and a host of a thousand apps costs two router reloads per wave, not per
// app. A failed check ends the step after its wave. Apps with deploy:
// stop-start, and units of apps the set does not name, restart all at
// once as before. running: only instances that run are restarted (an idle
// app is not started to roll it: its next request starts the new version).
func (e *engine) restart(ctx context.Context, units []string, running bool) (Done, error) {
	all := e.sd.RestartMany
	if running {
		all = e.sd.TryRestartMany
	}
	var now []string
	var rolls []appRoll
	waves := 0
	for _, r := range e.rolls(units) {
		if r.app == nil || r.app.Deploy == manifest.DeployStopStart {
			for _, in := range r.instances {
				now = append(now, in.units...)
			}
			continue
		}
		rolls = append(rolls, r)
		waves = max(waves, len(r.instances))
	}
	if len(now) > 0 {
		if err := all(ctx, now); err != nil {
			return Done{Units: now, Changed: true}, err
		}
	}
	done := Done{Units: now, Changed: len(now) > 0}
	routed, err := e.units(ctx, []string{naming.RouterUnit}, active)
	if err != nil {
		return done, err
	}
	if len(routed) > 0 {
		// Apps of one worker with a second slot roll through it first,
		// all together (slot.go); the others in waves.
		ss, rest, err := e.slotRolls(ctx, rolls)
		if err != nil {
			return done, err
		}
		if len(ss) > 0 {
			did, err := e.slotRoll(ctx, ss)
			done.Units = append(done.Units, did...)
			done.Changed = true
			if err != nil {
				return done, err
			}
		}
		rolls = rest
	}
	for k := 0; k < waves; k++ {
		did, err := e.wave(ctx, rolls, k, running, len(routed) > 0)
		done.Units = append(done.Units, did...)
		done.Changed = done.Changed || len(did) > 0
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// rolls groups units by app and instance, in the order given.
func (e *engine) rolls(units []string) []appRoll {
	apps := map[string]*manifest.App{}
	if e.set != nil {
		for _, t := range e.set.Tenants {
			for _, a := range t.Apps {
				apps[a.Tenant+"/"+a.Name] = a
			}
		}
	}
	var out []appRoll
	at := map[string]int{}
	for _, u := range units {
		tn, an, w := naming.Owner(u)
		k := tn + "/" + an
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, appRoll{tenant: tn, name: an, app: apps[k]})
		}
		r := &out[i]
		j := slices.IndexFunc(r.instances, func(in instance) bool { return in.worker == w })
		if j < 0 {
			r.instances = append(r.instances, instance{worker: w})
			j = len(r.instances) - 1
		}
		r.instances[j].units = append(r.instances[j].units, u)
	}
	return out
}

// member is one app's instance in a wave.
type member struct {
	r       *appRoll
	in      instance
	restart []string // the instance's units to restart (those that run)
	sock    string   // its socket on this host
	rel     string   // its name in the drain record
	err     error
}

// wave rolls the k-th instance of every app that has one; it returns the
// units it restarted. routed: the router runs, so instances are drained.
func (e *engine) wave(ctx context.Context, rolls []appRoll, k int, running, routed bool) ([]string, error) {
	var ms []*member
	for i := range rolls {
		r := &rolls[i]
		if k >= len(r.instances) {
			continue
		}
		in := r.instances[k]
		restart := in.units
		if running {
			up, err := e.units(ctx, in.units, active)
			if err != nil {
				return nil, err
			}
			if restart = up; len(restart) == 0 {
				continue // idle: its next request starts the new version
			}
		}
		names := r.app.Names()
		ms = append(ms, &member{r: r, in: in, restart: restart,
			sock: names.SocketPath(e.layout.Path(naming.RunDir), in.worker),
			rel:  strings.TrimPrefix(names.SocketPath("", in.worker), naming.RunDir+"/")})
	}
	if len(ms) == 0 {
		return nil, nil
	}
	rels := func(keep func(m *member) bool) []string {
		var out []string
		for _, m := range ms {
			if keep(m) {
				out = append(out, m.rel)
			}
		}
		return out
	}
	if routed {
		if err := e.drain(ctx, rels(func(*member) bool { return true }), true); err != nil {
			return nil, err
		}
		e.waitDrained(ctx, ms)
	}
	var did []string
	for _, m := range ms {
		did = append(did, m.restart...)
	}
	// A job that fails (a command that cannot be executed) fails its
	// instance's check below, which says why.
	jobs := e.sd.RestartMany(ctx, did)
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.check(ctx, m.r.app, m.sock, m.in.units); err != nil {
				m.err = fmt.Errorf("rollout of %s/%s stopped: %s %w%s", m.r.tenant, m.r.name, m.in.units[0], err, e.why(ctx, m.in.units))
			}
		}()
	}
	wg.Wait()
	var errs []error
	for _, m := range ms {
		errs = append(errs, m.err)
	}
	if routed {
		// A failed instance of an app with workers stays out of rotation
		// while the others serve the old version; alone, it is all there
		// is.
		back := rels(func(m *member) bool { return m.err == nil || m.r.app.Workers <= 1 })
		if err := e.drain(ctx, back, false); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return did, err
	}
	if jobs != nil {
		return did, fmt.Errorf("restart: %w", jobs)
	}
	return did, nil
}

// drain adds sockets to the drain record (or removes them) and reloads
// the router, which reads the record at every load; the reload is
// synchronous (docs/DESIGN.md), so no new request goes to a drained socket
// once it returns.
func (e *engine) drain(ctx context.Context, rels []string, on bool) error {
	if on {
		return e.mark(ctx, rels, nil)
	}
	return e.mark(ctx, nil, rels)
}

// mark adds the lines on to the drain record and removes the lines off,
// then reloads the router once if that changed the record.
func (e *engine) mark(ctx context.Context, on, off []string) error {
	path := e.layout.Path(naming.DrainFile)
	rec, err := drains.Load(path)
	if err != nil {
		return err
	}
	changed := false
	for _, rel := range off {
		if rec[rel] {
			changed = true
			delete(rec, rel)
		}
	}
	for _, rel := range on {
		if !rec[rel] {
			changed = true
			rec[rel] = true
		}
	}
	if !changed {
		return nil
	}
	if err := drains.Save(path, rec); err != nil {
		return err
	}
	if err := e.sd.ReloadUnit(ctx, naming.RouterUnit); err != nil {
		return fmt.Errorf("reload the router for the drain of %s: %w", strings.Join(append(on, off...), " "), err)
	}
	return nil
}

// recoverDrained puts back into rotation the instances a failed
// rollout left drained, when a later apply gets as far as reloading the
// router (nothing it rolled failed): those that run are rolled again, so
// none serves a version that never passed its check (an apply of the
// previous manifests restarts nothing else); the others start the
// installed version at their next request. Instances of apps no longer
// installed are dropped. It reports whether the record held anything.
func (e *engine) recoverDrained(ctx context.Context) (bool, error) {
	path := e.layout.Path(naming.DrainFile)
	rec, err := drains.Load(path)
	if err != nil || len(rec) == 0 {
		return false, err
	}
	var units, slots []string
	if e.set != nil {
		for _, t := range e.set.Tenants {
			for _, a := range t.Apps {
				n := a.Names()
				us := n.Units("")
				per := len(us.Services) / len(us.SocketPaths)
				for i, p := range us.SocketPaths {
					if rec[strings.TrimPrefix(p, naming.RunDir+"/")] {
						units = append(units, us.Services[i*per:(i+1)*per]...)
					}
				}
				if p := strings.TrimPrefix(us.Next.SocketPath, naming.RunDir+"/"); p != "" && (rec[p] || rec[drains.Serve+p]) {
					slots = append(slots, us.Next.Stop()...)
				}
			}
		}
	}
	if len(units) > 0 {
		if _, err := e.restart(ctx, units, true); err != nil {
			return true, err
		}
	}
	// A second slot a failed rollout left serving: the roll above put the
	// app's own instance back with the installed version, or there was
	// nothing running to roll (its next request starts it).
	if err := drains.Save(path, nil); err != nil {
		return true, err
	}
	if len(slots) > 0 {
		if err := e.sd.StopMany(ctx, slots); err != nil {
			return true, fmt.Errorf("stop %s: %w", strings.Join(slots, " "), err)
		}
	}
	return true, nil
}

// waitDrained waits until the router reports no request in flight on
// each member's socket, or until that app's drain: has passed; what still
// runs then is cut by the restart.
func (e *engine) waitDrained(ctx context.Context, ms []*member) {
	start := time.Now()
	for ctx.Err() == nil {
		idle, _ := drains.Load(e.layout.Path(naming.RouterDrained))
		waiting := false
		for _, m := range ms {
			if !idle[m.rel] && time.Since(start) < m.r.app.Drain {
				waiting = true
			}
		}
		if !waiting {
			return
		}
		time.Sleep(drainPoll)
	}
}

// check waits until a restarted instance passes its health check
// (health:) or, without one, answers a request at all, for at most
// HealthDeadline. It gives up early when systemd failed the instance (a
// crash loop hits the start limit within seconds).
func (e *engine) check(ctx context.Context, a *manifest.App, sock string, units []string) error {
	end := time.Now().Add(HealthDeadline)
	var last error
	for {
		if last = probe(ctx, sock, a.Health, host(a)); last == nil {
			return nil
		}
		if failed, _ := e.units(ctx, units, func(s dbus.UnitStatus) bool { return s.ActiveState == "failed" }); len(failed) > 0 {
			return fmt.Errorf("failed at start (%v)", last)
		}
		if time.Now().After(end) || ctx.Err() != nil {
			return fmt.Errorf("did not pass its check within %s: %v", HealthDeadline, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func host(a *manifest.App) string {
	for _, d := range a.Domains {
		if !strings.HasPrefix(d, "*.") {
			return d
		}
	}
	return "localhost"
}

// why is systemd's reason and the instance's last log line, for the
// error of a failed rollout.
func (e *engine) why(ctx context.Context, units []string) string {
	var s string
	if ur, ok := e.sd.(unitReader); ok {
		if infos, err := ur.Units(ctx, units); err == nil {
			if r := status.Reason(infos); r != "" {
				s += "; " + r
			}
		}
	}
	if e.lastLine != nil {
		for _, u := range units {
			if l := e.lastLine(ctx, u); l != "" {
				s += "; last log line: " + l
				break
			}
		}
	}
	return s
}
