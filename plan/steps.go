package plan

import (
	"fmt"
	"sort"

	"github.com/ehecoatl/ehecoatl/naming"
)

// Op is one kind of step. apply executes a list of steps in order and
// stops at the first that fails. Every step is idempotent and checks the
// host before it acts, so running the same list again after a crash (or
// after a step failed) converges (docs/DESIGN.md "Apply: atomic
// manifests, convergence after a crash").
type Op string

const (
	// Install installs the validated manifests and the rendered env files
	// as a new generation, when they differ from the installed one.
	Install Op = "install"
	// Reload runs daemon-reload when the generator's output directory does
	// not hold the rendered units (compared by digest), then checks that it
	// does.
	Reload Op = "daemon-reload"
	// Stop stops those of Units that are loaded and not inactive.
	Stop Op = "stop"
	// ResetFailed clears the failed state of the units matching Units
	// (glob patterns), so that a unit stopped by its start limit starts
	// again.
	ResetFailed Op = "reset-failed"
	// Listen makes every socket in Units listen: when any does not, one
	// start of ehecoatl.target (which wants them all; one job instead of
	// thousands), then a check that each one listens. Held names the apps
	// left down (stopped by the operator, or suspended).
	Listen Op = "listen"
	// Start and Restart run one job per unit and wait for all of them.
	Start   Op = "start"
	Restart Op = "restart"
	// TryRestart restarts those of Units that run.
	TryRestart Op = "try-restart"
	// StartRouter starts the router's socket (Units) when it is enabled
	// but does not listen: an apply means "serve this", and nothing
	// answers on :80 without it.
	StartRouter Op = "start-router"
	// ReloadRouter reloads the router's table, when the router runs and
	// either Always is set (the routes changed) or an earlier Install
	// step installed a new generation.
	ReloadRouter Op = "reload-router"
	// Record writes the applied-state record. It comes last: a record
	// exists only for a state every earlier step reached.
	Record Op = "record"
)

// Step is one thing apply does.
type Step struct {
	Op    Op       `json:"op"`
	Units []string `json:"units,omitempty"`
	// Always: reload-router reloads even when nothing was installed.
	Always bool `json:"always,omitempty"`
	// Held: for listen, the apps ("tenant/app (reason)") whose sockets
	// it leaves down.
	Held []string `json:"held,omitempty"`
}

// applySteps are the steps of an apply to want: install, reload, stop what
// is gone, give failed units a fresh start, make every desired socket
// listen (not only new ones: that is what makes an apply after a crash
// converge), restart what changed, reload the router, record.
// Held apps (suspended, stopped by the operator) are stopped with what is
// gone, whenever anything of them runs, and left out of listen.
func applySteps(p *Plan, want *State) []Step {
	steps := []Step{{Op: Install}, {Op: Reload}}
	socks, held, heldUnits := sockets(want)
	if stop := append(append([]string{}, p.Stop...), heldUnits...); len(stop) > 0 {
		steps = append(steps, Step{Op: Stop, Units: stop})
	}
	// An apply means "run this": a fixed manifest must not stay behind
	// start-limit-hit, and failed units of removed apps disappear.
	steps = append(steps, Step{Op: ResetFailed, Units: []string{"ehecoatl-*"}})
	if len(socks) > 0 || len(held) > 0 {
		steps = append(steps, Step{Op: Listen, Units: socks, Held: held})
	}
	if len(p.Restart) > 0 {
		steps = append(steps, Step{Op: TryRestart, Units: p.Restart})
	}
	return append(steps,
		Step{Op: StartRouter, Units: []string{naming.RouterSocket}},
		Step{Op: ReloadRouter, Units: []string{naming.RouterUnit}, Always: p.RoutesChanged},
		Step{Op: Record})
}

// sockets returns the sockets of the apps that run, the held apps
// ("tenant/app (reason)") and their units (services, then sockets).
func sockets(st *State) (socks, held, heldUnits []string) {
	var svcs, hsocks []string
	for tn, t := range st.Tenants {
		for an, a := range t.Apps {
			if a.Held != "" {
				held = append(held, tn+"/"+an+" ("+a.Held+")")
				svcs = append(svcs, a.Services...)
				hsocks = append(hsocks, a.Sockets...)
				continue
			}
			socks = append(socks, a.Sockets...)
		}
	}
	sort.Strings(socks)
	sort.Strings(held)
	sort.Strings(svcs)
	sort.Strings(hsocks)
	return socks, held, append(svcs, hsocks...)
}

// Control returns the steps of `ehecoatl start|stop|restart` for the units
// of some apps. start brings up sockets and services at once (no waiting
// for a first request); stop takes both down, services first, so nothing
// activates the app until it is started or applied again; restart
// restarts the services and makes sure the sockets listen. start and
// restart mean "try again": failed state is reset first.
func Control(verb string, sockets, services []string) ([]Step, error) {
	all := append(append([]string{}, sockets...), services...)
	switch verb {
	case "start":
		return []Step{{Op: ResetFailed, Units: all}, {Op: Start, Units: sockets}, {Op: Start, Units: services}}, nil
	case "stop":
		return []Step{{Op: Stop, Units: services}, {Op: Stop, Units: sockets}}, nil
	case "restart":
		return []Step{{Op: ResetFailed, Units: all}, {Op: Start, Units: sockets}, {Op: Restart, Units: services}}, nil
	}
	return nil, fmt.Errorf("plan: no control verb %q (start, stop, restart)", verb)
}
