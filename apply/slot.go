package apply

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/ehecoatl/ehecoatl/drains"
	"github.com/ehecoatl/ehecoatl/naming"
)

// slotted is an app of one worker rolled through its second slot
// (naming.App.HasNext): the new version starts beside the old one.
type slotted struct {
	r         *appRoll
	main      instance
	svc       string // the app's own service, which errors name (main.units may list a bridge first)
	next      naming.Slot
	sock, rel string // the main instance's socket, and its name in the record
	nextSock  string
	nextRel   string
	err       error
}

// slotRolls picks, out of rolls, the apps of one worker that roll through
// their second slot: those with one whose service runs (an idle app is
// not started to roll it, and `ehecoatl restart` of one starts it as
// before). It returns them and the rest. One D-Bus call for all.
func (e *engine) slotRolls(ctx context.Context, rolls []appRoll) ([]*slotted, []appRoll, error) {
	var cand []string
	for _, r := range rolls {
		if r.app.Names().HasNext() && len(r.instances) == 1 {
			cand = append(cand, r.instances[0].units...)
		}
	}
	up, err := e.units(ctx, cand, active)
	if err != nil || len(up) == 0 {
		return nil, rolls, err
	}
	runs := map[string]bool{}
	for _, u := range up {
		runs[u] = true
	}
	run, root := e.layout.Path(naming.RunDir), naming.RunDir+"/"
	var ss []*slotted
	var rest []appRoll
	for i := range rolls {
		r := &rolls[i]
		n := r.app.Names()
		if !n.HasNext() || len(r.instances) != 1 || !runs[r.instances[0].units[0]] {
			rest = append(rest, *r)
			continue
		}
		ss = append(ss, &slotted{r: r, main: r.instances[0], svc: n.Service(), next: n.Units("").Next,
			sock: n.SocketPath(run, ""), rel: strings.TrimPrefix(n.SocketPath("", ""), root),
			nextSock: n.NextSocketPath(run), nextRel: strings.TrimPrefix(n.NextSocketPath(""), root)})
	}
	return ss, rest, nil
}

// slotRoll rolls apps of one worker without a moment down: it starts
// each app's second slot (the new version: the unit files already are),
// checks it over its socket, has the router send new requests to it while
// the old instance's requests end, restarts the app's own instance,
// checks it, puts it back in rotation, and stops the slot once its
// requests have ended. The router is reloaded three times for all the
// apps together. A slot that fails its check is stopped, and its app
// keeps serving the old version untouched. It returns the units it
// restarted or started.
func (e *engine) slotRoll(ctx context.Context, ss []*slotted) ([]string, error) {
	var did []string
	var start []string
	for _, s := range ss {
		start = append(start, s.next.Start()...)
	}
	did = append(did, start...)
	// A restart, not a start: a slot a failed apply left running gets the
	// installed version. A job that fails fails the check, which says why.
	jobs := e.sd.RestartMany(ctx, start)
	e.checkAll(ss, func(s *slotted) error {
		if err := e.check(ctx, s.r.app, s.nextSock, s.next.Services()); err != nil {
			return fmt.Errorf("rollout of %s/%s stopped: %s %w%s; %s keeps serving the previous version",
				s.r.tenant, s.r.name, s.next.Service, err, e.why(ctx, []string{s.next.Service}), s.svc)
		}
		return nil
	})
	var errs []error
	var bad []string
	ok := ss[:0:0]
	for _, s := range ss {
		if s.err != nil {
			errs = append(errs, s.err)
			bad = append(bad, s.next.Stop()...)
			continue
		}
		ok = append(ok, s)
	}
	if len(bad) > 0 {
		if err := e.sd.StopMany(ctx, bad); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", strings.Join(bad, " "), err))
		}
	}
	if len(ok) == 0 {
		return did, errors.Join(errs...)
	}

	// Switch: the slot serves, the app's own instance drains.
	var on []string
	for _, s := range ok {
		on = append(on, s.rel, drains.Serve+s.nextRel)
	}
	if err := e.mark(ctx, on, nil); err != nil {
		return did, errors.Join(append(errs, err)...)
	}
	e.waitDrained(ctx, members(ok, func(s *slotted) string { return s.rel }))
	var restart []string
	for _, s := range ok {
		restart = append(restart, s.main.units...)
	}
	did = append(did, restart...)
	if err := e.sd.RestartMany(ctx, restart); err != nil && jobs == nil {
		jobs = err
	}
	e.checkAll(ok, func(s *slotted) error {
		if err := e.check(ctx, s.r.app, s.sock, s.main.units); err != nil {
			// The slot passed its check with the same version: it goes on
			// serving until an apply rolls the app again.
			return fmt.Errorf("rollout of %s/%s stopped: %s %w%s; %s serves the new version",
				s.r.tenant, s.r.name, s.svc, err, e.why(ctx, s.main.units), s.next.Service)
		}
		return nil
	})

	// Switch back where the app's own instance passed; the slot drains.
	var back, drainNext []string
	var done []*slotted
	for _, s := range ok {
		if s.err != nil {
			errs = append(errs, s.err)
			continue
		}
		back = append(back, s.rel, drains.Serve+s.nextRel)
		drainNext = append(drainNext, s.nextRel)
		done = append(done, s)
	}
	if len(done) > 0 {
		if err := e.mark(ctx, drainNext, back); err != nil {
			return did, errors.Join(append(errs, err)...)
		}
		e.waitDrained(ctx, members(done, func(s *slotted) string { return s.nextRel }))
		var stop []string
		for _, s := range done {
			stop = append(stop, s.next.Stop()...)
		}
		if err := e.sd.StopMany(ctx, stop); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", strings.Join(stop, " "), err))
		}
		if err := e.mark(ctx, nil, drainNext); err != nil {
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

// checkAll runs check for every app at once and keeps its error.
func (e *engine) checkAll(ss []*slotted, check func(*slotted) error) {
	var wg sync.WaitGroup
	for _, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.err = check(s)
		}()
	}
	wg.Wait()
}

// members are what waitDrained waits on: a socket of each app, by its
// name in the record.
func members(ss []*slotted, rel func(*slotted) string) []*member {
	var ms []*member
	for _, s := range ss {
		ms = append(ms, &member{r: s.r, rel: rel(s)})
	}
	return ms
}
