package router

import (
	"context"
	"time"
)

// IdleStopper stops a systemd unit. In production it is a D-Bus StopUnit
// (package dbus) of ehecoatl-<tenant>-<app>.service (or of each
// ehecoatl-<tenant>-<app>@<i>.service worker); the router calls it when an
// activation app has had no request in flight for its idle_timeout. The
// socket unit stays listening, so the next request starts the app again
// (and waits for it, see Config.StartTimeout).
//
// An unprivileged router needs a polkit rule allowing it to manage
// ehecoatl-*.service units (action org.freedesktop.systemd1.manage-units,
// user ehecoatl-router).
type IdleStopper interface {
	Stop(ctx context.Context, unit string) error
}

// AppActivity is the idle-tracking view of one app, for status and tests.
type AppActivity struct {
	Tenant, App string
	// InFlight counts requests and open WebSocket tunnels.
	InFlight int64
	// LastActive is the start or end of the latest request.
	LastActive time.Time
	// Stopped: the router stopped the app for idleness and no request has
	// come since.
	Stopped bool
}

// Activity lists the idle-tracking state of every app in the table.
func (rt *Router) Activity() []AppActivity {
	t := rt.table.Load()
	out := make([]AppActivity, 0, len(t.apps))
	for _, a := range t.apps {
		out = append(out, AppActivity{Tenant: a.tenant.name, App: a.name, InFlight: a.inflight.Load(),
			LastActive: time.Unix(0, a.lastActive.Load()), Stopped: a.stopped.Load()})
	}
	return out
}

func (rt *Router) idleLoop() {
	tk := time.NewTicker(rt.cfg.IdleCheckInterval)
	defer tk.Stop()
	for {
		select {
		case <-rt.done:
			return
		case now := <-tk.C:
			rt.checkIdle(now.UnixNano())
		}
	}
}

// checkIdle closes expired pooled connections and stops activation apps
// idle for their idle_timeout. Ports apps are not stopped here: their
// bridge exits on its own once the router's pooled connections to it are
// closed (which happens after at most half the app's idle_timeout).
func (rt *Router) checkIdle(now int64) {
	for _, a := range rt.table.Load().apps {
		for _, u := range a.ups {
			u.reap(now, false)
		}
		it := a.idleTimeout.Load()
		if rt.cfg.Stopper == nil || it <= 0 || !a.activation.Load() || a.stopped.Load() ||
			a.inflight.Load() > 0 || now-a.lastActive.Load() < it {
			continue
		}
		if !a.stopping.CompareAndSwap(false, true) {
			continue
		}
		go rt.stopApp(a)
	}
}

func (rt *Router) stopApp(a *appState) {
	defer a.stopping.Store(false)
	seen := a.lastActive.Load()
	for _, u := range a.ups {
		u.reap(0, true) // kept-alive connections would die with the app
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for _, unit := range a.units {
		if err := rt.cfg.Stopper.Stop(ctx, unit); err != nil {
			rt.cfg.Logger.Warn("idle stop failed", "tenant", a.tenant.name, "app", a.name, "unit", unit, "err", err)
			return // retried at the next check
		}
	}
	rt.cfg.Logger.Info("stopped idle app", "tenant", a.tenant.name, "app", a.name)
	a.m.idleStops.Add(1)
	for _, u := range a.ups {
		u.warm.Store(warmNo) // the next request waits for a start
	}
	// A request that arrived meanwhile has restarted the app: leave it
	// eligible for the next idle stop.
	if a.lastActive.Load() == seen && a.inflight.Load() == 0 {
		a.stopped.Store(true)
	}
}
