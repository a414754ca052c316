package dbus

import (
	"context"
	"errors"

	godbus "github.com/godbus/dbus/v5"
)

// ServiceCounters are the figures of a service that systemd keeps and the
// cgroup file system does not: restarts, and the IP bytes of its BPF
// accounting (IPAccounting=yes).
type ServiceCounters struct {
	// NRestarts counts automatic restarts (Restart=) since the last
	// start that was not one; it outlives the run until the next start.
	// nil when it could not be read.
	NRestarts *uint32
	// IPIngressBytes and IPEgressBytes are nil when not asked for, when
	// the service runs without IPAccounting=, or has no cgroup (systemd
	// reports NotSet).
	IPIngressBytes, IPEgressBytes *uint64
}

// countersInFlight bounds the property reads ServiceCounters keeps
// outstanding on the connection. The system bus refuses a connection more
// than max_replies_per_connection pending calls (128 in dbus-daemon's
// system.conf); 64 keeps systemd's queue full with room to spare.
const countersInFlight = 64

// ServiceCounters reads NRestarts of every named service and, where ip[i]
// is set, its IP bytes. One Properties.Get per figure, all sent on the one
// connection without waiting for each answer (pipelined, at most 64
// outstanding): systemd answers a Get in a few microseconds, so the cost
// is the bus's round trip once, not once per unit. A GetAll of a Service
// is about 300 properties and reads its cgroup as well; three Gets cost
// systemd less. Name only loaded units: a Get of an unloaded one makes
// systemd load it. The result has one entry per name; the error joins one
// per figure that could not be read, which stays nil.
func (c *Conn) ServiceCounters(ctx context.Context, names []string, ip []bool) ([]ServiceCounters, error) {
	type get struct {
		unit int
		prop string
	}
	var gets []get
	for i := range names {
		gets = append(gets, get{i, "NRestarts"})
		if i < len(ip) && ip[i] {
			gets = append(gets, get{i, "IPIngressBytes"}, get{i, "IPEgressBytes"})
		}
	}
	out := make([]ServiceCounters, len(names))
	var errs []error
	done := make(chan *godbus.Call, countersInFlight)
	pending := make(map[*godbus.Call]get, countersInFlight)
	next := 0
	for next < len(gets) || len(pending) > 0 {
		for len(pending) < countersInFlight && next < len(gets) {
			g := gets[next]
			next++
			call := c.bus.Object(systemdDest, unitPath(names[g.unit])).GoWithContext(ctx, propsGet, 0, done, serviceIface, g.prop)
			pending[call] = g
		}
		call := <-done
		g := pending[call]
		delete(pending, call)
		var v godbus.Variant
		if err := call.Store(&v); err != nil {
			errs = append(errs, opError("read "+g.prop+" of", names[g.unit], err))
			continue
		}
		p := props{g.prop: v}
		switch g.prop {
		case "NRestarts":
			if n, ok := v.Value().(uint32); ok {
				out[g.unit].NRestarts = &n
			}
		case "IPIngressBytes":
			out[g.unit].IPIngressBytes = p.u64(g.prop)
		case "IPEgressBytes":
			out[g.unit].IPEgressBytes = p.u64(g.prop)
		}
	}
	return out, errors.Join(errs...)
}

const serviceIface = "org.freedesktop.systemd1.Service"
