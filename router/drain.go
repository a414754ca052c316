// Draining: apply's rolling restarts take one worker at a time out of
// rotation (docs/OPERATIONS.md "Deploys"). Apply lists the drained sockets
// in a record the router reads at every load (Config.Draining); the router
// sends no new request to a drained socket and reports, in
// Config.DrainedReport, those with no request left in flight, which is
// when apply may restart them.

package router

import (
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ehecoatl/ehecoatl/atomicfile"

	"github.com/ehecoatl/ehecoatl/drains"
)

// drainPoll is how often the router looks for drained sockets whose
// requests have ended, and how often a request waits for a worker when
// every worker of its app is drained.
const drainPoll = 20 * time.Millisecond

// markDrained sets the drained flag of every upstream of the table from
// the record; names are socket paths relative to the run directory
// ("acme/web@2.sock"). A worker leaving the record was restarted by the
// rollout and passed its check (or was not running): it is up, whatever
// its health was before the restart (a broken version's failed probes
// must not keep the fixed one out for two probe rounds).
func (rt *Router) markDrained(t *Table, drained map[string]bool) {
	any := false
	for _, a := range t.apps {
		for _, u := range a.ups {
			d := drained[rt.relSocket(u.path)]
			if was := u.drained.Swap(d); was && !d {
				rt.setHealth(a, u, true, "restarted by a rollout, which checked it")
			}
			any = any || d
		}
		if n := a.next.Load(); n != nil {
			// The second slot serves only while the record lists it with
			// a "+" (drains.Serve), and is reported when listed without.
			// serving is cleared before drained is set, so that a request
			// that saw it serving is seen in flight by the drain watcher
			// (as in ready).
			rel := rt.relSocket(n.path)
			n.serving.Store(drained[drains.Serve+rel])
			d := drained[rel]
			n.drained.Store(d)
			any = any || d
		}
	}
	rt.anyDrained.Store(any)
}

func (rt *Router) relSocket(p string) string {
	r, err := filepath.Rel(rt.cfg.RunDir, p)
	if err != nil {
		return p
	}
	return r
}

// ready picks a worker of a for one request, other than skip, with its
// in-flight count taken (the caller gives it back): one that is up
// (health.go) and not drained, else the app's second slot while a
// rollout has it serving. While the only workers up are drained (a
// rollout restarting a one-worker app without a second slot), the request
// waits for one, up to the start timeout, then goes to a drained one
// (docs/OPERATIONS.md "Deploys"): new requests queue rather than fail.
// nil when every worker is down.
func (rt *Router) ready(a *appState, skip *upstream) *upstream {
	var deadline time.Time
	for {
		if up := a.readyNow(skip); up != nil {
			return up
		}
		d := a.drainedUp(skip)
		if d == nil {
			return nil
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(max(rt.cfg.StartTimeout, time.Second))
		}
		if time.Now().After(deadline) {
			d.active.Add(1)
			return d
		}
		time.Sleep(drainPoll)
	}
}

// readyNow is ready without the wait: a worker that is up and not
// drained, or the serving second slot, with its in-flight count taken;
// nil when there is none now.
func (a *appState) readyNow(skip *upstream) *upstream {
	for {
		if up := a.pick(skip); up != nil {
			up.active.Add(1)
			// Checked after the count is taken: the drain watcher reads
			// the flag before the count, so a request either sees the
			// flag or is seen in flight (sequentially consistent atomics).
			if !up.drained.Load() {
				return up
			}
			up.active.Add(-1)
			continue // pick skips it now
		}
		if n := a.next.Load(); n != nil && n != skip && n.serving.Load() {
			n.active.Add(1)
			if n.serving.Load() { // as above
				return n
			}
			n.active.Add(-1)
			continue
		}
		return nil
	}
}

// drainedUp is a drained worker of a that is up, other than skip; nil
// when there is none.
func (a *appState) drainedUp(skip *upstream) *upstream {
	for _, u := range a.ups {
		if u != skip && u.drained.Load() && !u.health.down.Load() {
			return u
		}
	}
	return nil
}

// drainLoop writes the drained sockets with nothing in flight to
// Config.DrainedReport, one per line, whenever that list changes. Their
// pooled connections are closed first: they lead to the process apply is
// about to stop.
func (rt *Router) drainLoop() {
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	last := "\x00"
	for {
		select {
		case <-rt.done:
			return
		case <-tick.C:
		}
		var idle []string
		if rt.anyDrained.Load() {
			for _, a := range rt.table.Load().apps {
				for _, u := range a.ups {
					if u.drained.Load() && u.active.Load() == 0 {
						u.reap(0, true)
						idle = append(idle, rt.relSocket(u.path))
					}
				}
				if u := a.next.Load(); u != nil && u.drained.Load() && u.active.Load() == 0 {
					u.reap(0, true)
					idle = append(idle, rt.relSocket(u.path))
				}
			}
		}
		slices.Sort(idle)
		s := strings.Join(idle, "\n")
		if s == last {
			continue
		}
		if s != "" {
			s += "\n"
		}
		if err := writeAtomic(rt.cfg.DrainedReport, s); err != nil {
			rt.logf("drained report: %v", err)
			continue
		}
		last = strings.TrimSuffix(s, "\n")
	}
}

func writeAtomic(path, s string) error { return atomicfile.Write(path, []byte(s), 0o644, -1) }
