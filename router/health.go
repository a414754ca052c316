// Instance health (docs/OPERATIONS.md "Health checks"): passive, from the
// outcome of forwarded requests, and active, probing the manifest's
// health: path of instances that run. Down instances are skipped by pick;
// with every instance down the app is answered with 503.

package router

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/ehecoatl/ehecoatl/health"
)

// downBody and downRetry answer the requests of an app whose instances
// are all down.
const (
	downBody  = "503 Service Unavailable: the app is not responding\n"
	downRetry = "10"
)

// runningLookupTimeout bounds the one D-Bus call of a probe round.
const runningLookupTimeout = 5 * time.Second

// instHealth is one upstream's health. down is read on every pick; the
// counters are touched only by failed requests and the prober.
type instHealth struct {
	down atomic.Bool
	// fails counts failed requests since windowStart (unix ns).
	fails       atomic.Int32
	windowStart atomic.Int64
	// changed is the unix-nano time of the last transition (0: never).
	changed atomic.Int64
	mu      sync.Mutex // reason, and the prober's counters
	reason  string
	passes  int // consecutive passed probes while down
	misses  int // consecutive failed probes while up
}

// probeTarget is what the prober sends an app: health: path, and the Host.
type probeTarget struct{ path, host string }

// failedStatus reports whether a forwarded request's status counts against
// its instance: the router's answers to an app it could not reach (502,
// 503) and the app's own gateway-class answers (502, 503, 504). A 500 is
// an app's bug on one path, not a sick instance: counting it would let one
// broken page take every instance down.
func failedStatus(status int) bool { return status >= 502 && status <= 504 }

// allDown is the answer for an app whose instances are all down: the
// 503 of a failed app when systemd gave up on it, else downBody.
func (rt *Router) allDown(a *appState) (body, retryAfter string) {
	if rt.gaveUp(a) {
		return failedBody, failedRetryAfter
	}
	return downBody, downRetry
}

// observe counts a forwarded request's outcome against u.
func (rt *Router) observe(a *appState, u *upstream, status int) {
	if !failedStatus(status) {
		return
	}
	rt.failure(a, u, status, nil)
}

// failure counts one failed request (its status) or connect (its error)
// of u; PassiveFails of them within PassiveWindow take it down. Nothing is
// formatted but at a transition, so that a flood of failures costs no
// allocation. An app of one instance without a health: path is never
// taken down: there is no other instance to send its requests to, nor a
// probe to bring it back as soon as it answers, and the answers of
// docs/OPERATIONS.md "When an app fails" say what is wrong.
func (rt *Router) failure(a *appState, u *upstream, status int, err error) {
	if len(a.ups) == 1 && a.probe.Load() == nil {
		return
	}
	h := &u.health
	now := time.Now().UnixNano()
	if ws := h.windowStart.Load(); now-ws > int64(health.PassiveWindow) && h.windowStart.CompareAndSwap(ws, now) {
		h.fails.Store(0)
	}
	if h.fails.Add(1) >= health.PassiveFails && !h.down.Load() {
		last := fmt.Sprintf("status %d", status)
		if de, ok := err.(*errDial); ok {
			last = de.err.Error() // "dial unix PATH: connect: ..."
		} else if err != nil {
			last = err.Error()
		}
		rt.setHealth(a, u, false, fmt.Sprintf("%d failed requests within %s (last: %s)", health.PassiveFails, health.PassiveWindow, last))
	}
}

// setHealth makes u up or down and, when that is a change, says so in
// the journal and has the record rewritten.
func (rt *Router) setHealth(a *appState, u *upstream, up bool, reason string) {
	h := &u.health
	if !h.down.CompareAndSwap(up, !up) {
		return
	}
	h.mu.Lock()
	h.reason, h.passes, h.misses = reason, 0, 0
	h.mu.Unlock()
	h.fails.Store(0)
	h.windowStart.Store(time.Now().UnixNano())
	h.changed.Store(time.Now().UnixNano())
	name := health.Instance{Tenant: a.tenant.name, App: a.name, Instance: u.instance}.Name()
	word := "up"
	if !up {
		word = "down"
	}
	msg := name + " is " + word + ": " + reason
	if rt.cfg.HealthLog != nil {
		rt.cfg.HealthLog(a.tenant.name, a.name, u.instance, up, msg)
	} else {
		journalHealth(rt, a, u, word, msg)
	}
	select {
	case rt.healthDirty <- struct{}{}:
	default:
	}
}

// journalHealth sends a transition to the journal with the fields of the
// access log (EHECOATL_TENANT, EHECOATL_APP) and the instance, so that
// `journalctl EHECOATL_TENANT=acme` and `ehecoatl logs` show it.
func journalHealth(rt *Router, a *appState, u *upstream, word, msg string) {
	if !journal.Enabled() {
		rt.cfg.Logger.Warn(msg, "tenant", a.tenant.name, "app", a.name, "instance", u.instance, "health", word)
		return
	}
	pri := journal.PriWarning
	if word == "up" {
		pri = journal.PriNotice
	}
	journal.Send(msg, pri, map[string]string{
		"EHECOATL_TENANT":   a.tenant.name,
		"EHECOATL_APP":      a.name,
		"EHECOATL_INSTANCE": fmt.Sprint(u.instance),
		"EHECOATL_HEALTH":   word,
	})
}

// healthLoop probes, cools down and keeps the record until the router
// closes. A tick each second is cheap: it only looks at atomics; probes
// and D-Bus calls happen once per Config.HealthInterval per app.
func (rt *Router) healthLoop() {
	tk := time.NewTicker(time.Second)
	defer tk.Stop()
	var last []byte
	var lastProbe time.Time
	for {
		select {
		case <-rt.done:
			return
		case <-rt.healthDirty:
		case now := <-tk.C:
			rt.coolDown(now)
			if now.Sub(lastProbe) >= rt.cfg.HealthInterval {
				lastProbe = now
				rt.probeAll()
			}
		}
		last = rt.writeHealth(last)
	}
}

// coolDown brings up the down instances that no probe can judge (no
// health: path) after health.CoolDown; the next failures take them down
// again. Instances with a health: path come up by passing probes, or by
// the cool-down while their service does not run (probing it would
// start it; its next start gets a chance).
func (rt *Router) coolDown(now time.Time) {
	for _, a := range rt.table.Load().apps {
		pt := a.probe.Load()
		for _, u := range a.ups {
			h := &u.health
			if !h.down.Load() || now.UnixNano()-h.changed.Load() < int64(health.CoolDown) {
				continue
			}
			if pt == nil || !u.running.Load() {
				rt.setHealth(a, u, true, "cool-down of "+health.CoolDown.String()+" over")
			}
		}
	}
}

// probeAll probes the running instances of every app with a health: path,
// at most 8 at once, and waits for them. Which instances run is one
// lookup for all of them.
func (rt *Router) probeAll() {
	var apps []*appState
	var units []string
	for _, a := range rt.table.Load().apps {
		if a.probe.Load() == nil {
			continue
		}
		if a.stopped.Load() || a.stopping.Load() || len(a.runUnits) != len(a.ups) {
			// Stopped for idleness: nothing runs, and a probe would start it.
			for _, u := range a.ups {
				u.running.Store(false)
			}
			continue
		}
		apps = append(apps, a)
		units = append(units, a.runUnits...)
	}
	if len(apps) == 0 {
		return
	}
	running := rt.running(units)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	i := 0
	for _, a := range apps {
		pt := a.probe.Load()
		for _, u := range a.ups {
			r := running[i]
			i++
			u.running.Store(r)
			if !r || pt == nil {
				continue
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				rt.probe(a, u, pt)
			}()
		}
	}
	wg.Wait()
}

// running says which units (per instance, the service its socket starts)
// are active: only those are probed, since connecting to the socket of a
// stopped one starts it. A failed lookup probes none.
func (rt *Router) running(units []string) []bool {
	out := make([]bool, len(units))
	if rt.cfg.Running == nil {
		for i := range out {
			out[i] = true
		}
		return out
	}
	ctx, cancel := context.WithTimeout(context.Background(), runningLookupTimeout)
	defer cancel()
	r, err := rt.cfg.Running(ctx, units)
	if err != nil || len(r) != len(out) {
		if err != nil {
			rt.cfg.Logger.Warn("looking up which app instances run; no probes this round", "err", err)
		}
		return out
	}
	return r
}

// probe runs one active check of u and counts it.
func (rt *Router) probe(a *appState, u *upstream, pt *probeTarget) {
	if a.stopped.Load() || a.stopping.Load() {
		return // stopped for idleness since the lookup: a probe would start it
	}
	err := health.Probe(context.Background(), u.path, pt.host, pt.path, health.Timeout)
	h := &u.health
	h.mu.Lock()
	down := h.down.Load()
	var change bool
	var reason string
	switch {
	case err == nil && down:
		h.passes++
		change, reason = h.passes >= health.Passes, fmt.Sprintf("passed %d health checks (GET %s)", health.Passes, pt.path)
	case err == nil:
		h.misses = 0
	case down:
		h.passes = 0
	default:
		h.misses++
		change, reason = h.misses >= health.Fails, fmt.Sprintf("failed %d health checks (%v)", health.Fails, strings.TrimPrefix(err.Error(), "health: "))
	}
	h.mu.Unlock()
	if change {
		rt.setHealth(a, u, down, reason)
	}
}

// writeHealth writes Config.HealthState when the instances' states differ
// from last (what was compared last time) and returns what it compared.
func (rt *Router) writeHealth(last []byte) []byte {
	if rt.cfg.HealthState == "" {
		return last
	}
	var r health.Record
	for _, a := range rt.table.Load().apps {
		for _, u := range a.ups {
			in := health.Instance{Tenant: a.tenant.name, App: a.name, Instance: u.instance, Health: "up"}
			if u.health.down.Load() {
				in.Health = "down"
			}
			if c := u.health.changed.Load(); c != 0 {
				t := time.Unix(0, c).UTC()
				in.Since = &t
				u.health.mu.Lock()
				in.Reason = u.health.reason
				u.health.mu.Unlock()
			}
			r.Instances = append(r.Instances, in)
		}
	}
	sort.SliceStable(r.Instances, func(i, j int) bool { return r.Instances[i].Name() < r.Instances[j].Name() })
	cur, _ := json.Marshal(r.Instances)
	if bytes.Equal(cur, last) {
		return last
	}
	r.Written = time.Now().UTC()
	if err := health.Write(rt.cfg.HealthState, r); err != nil {
		rt.cfg.Logger.Warn("writing the instances' health", "path", rt.cfg.HealthState, "err", err)
		return last
	}
	return cur
}
