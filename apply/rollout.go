package apply

import (
	"context"
	"fmt"
	"slices"
	"strings"
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

// instance is one worker of an app: its socket and the units that restart
// together (the service, and the bridge of a port: app).
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

// restart runs a restart or try-restart step as rollouts, one app after
// the other: every instance of an app in turn is drained in the router,
// restarted and checked before the next one restarts. Apps with deploy:
// stop-start, and units of apps the set does not name, restart all at
// once as before. running: only instances that run are restarted (an idle
// app is not started to roll it: its next request starts the new
// version).
func (e *engine) restart(ctx context.Context, units []string, running bool) (Done, error) {
	all := e.sd.RestartMany
	if running {
		all = e.sd.TryRestartMany
	}
	var now []string
	var rolls []appRoll
	for _, r := range e.rolls(units) {
		if r.app == nil || r.app.Deploy == manifest.DeployStopStart {
			for _, in := range r.instances {
				now = append(now, in.units...)
			}
			continue
		}
		rolls = append(rolls, r)
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
	for _, r := range rolls {
		did, err := e.roll(ctx, r, running, len(routed) > 0)
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

// roll restarts the instances of one app one at a time; it returns the
// units it restarted. routed: the router runs, so instances are drained.
func (e *engine) roll(ctx context.Context, r appRoll, running, routed bool) ([]string, error) {
	names := r.app.Names()
	var did []string
	for _, in := range r.instances {
		restart := in.units
		if running {
			up, err := e.units(ctx, in.units, active)
			if err != nil {
				return did, err
			}
			if restart = up; len(restart) == 0 {
				continue // idle: its next request starts the new version
			}
		}
		sock := names.SocketPath(e.layout.Path(naming.RunDir), in.worker)
		rel := strings.TrimPrefix(names.SocketPath("", in.worker), naming.RunDir+"/")
		if routed {
			if err := e.drain(ctx, rel, true); err != nil {
				return did, err
			}
			e.waitDrained(ctx, rel, r.app.Drain)
		}
		did = append(did, restart...)
		err := e.sd.RestartMany(ctx, restart)
		if err == nil {
			err = e.check(ctx, r.app, sock, in.units)
		}
		if err != nil {
			// With other workers the failed one stays out of rotation and
			// they go on serving the old version; alone, it is all there is.
			if routed && len(r.instances) == 1 && names.Workers <= 1 {
				e.drain(ctx, rel, false)
			}
			return did, fmt.Errorf("rollout of %s/%s stopped: %s %s%s", r.tenant, r.name, in.units[0], err, e.why(ctx, in.units))
		}
		if routed {
			if err := e.drain(ctx, rel, false); err != nil {
				return did, err
			}
		}
	}
	return did, nil
}

// drain adds a socket to the drain record (or removes it) and reloads the
// router, which reads the record at every load; the reload is
// synchronous (docs/DESIGN.md), so no new request goes to a drained socket
// once it returns.
func (e *engine) drain(ctx context.Context, rel string, on bool) error {
	path := e.layout.Path(naming.DrainFile)
	rec, err := drains.Load(path)
	if err != nil {
		return err
	}
	if rec[rel] == on {
		return nil
	}
	if on {
		rec[rel] = true
	} else {
		delete(rec, rel)
	}
	if err := drains.Save(path, rec); err != nil {
		return err
	}
	if err := e.sd.ReloadUnit(ctx, naming.RouterUnit); err != nil {
		return fmt.Errorf("reload the router to drain %s: %w", rel, err)
	}
	return nil
}

// undrainAll empties the drain record of a failed rollout, when an apply
// or control run got as far as reloading the router: a later apply that
// succeeds puts every instance back into rotation. It reports whether
// the record held anything.
func (e *engine) undrainAll() (bool, error) {
	path := e.layout.Path(naming.DrainFile)
	rec, err := drains.Load(path)
	if err != nil || len(rec) == 0 {
		return false, err
	}
	return true, drains.Save(path, nil)
}

// waitDrained waits until the router reports no request in flight on the
// socket, at most d (the app's drain:); what still runs then is cut by
// the restart.
func (e *engine) waitDrained(ctx context.Context, rel string, d time.Duration) {
	if d <= 0 {
		d = manifest.DefaultDrain
	}
	end := time.Now().Add(d)
	for time.Now().Before(end) && ctx.Err() == nil {
		if idle, err := drains.Load(e.layout.Path(naming.RouterDrained)); err == nil && idle[rel] {
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
