package cli

import (
	"fmt"
	"io"

	"github.com/ehecoatl/ehecoatl/apply"
	"github.com/ehecoatl/ehecoatl/layout"
	"github.com/ehecoatl/ehecoatl/plan"
)

// printer returns the progress callback that prints each step of apply,
// start, stop and restart as it ends, one line per step that changed
// something (docs/OPERATIONS.md quotes these lines).
func printer(w io.Writer) func(apply.Done) {
	return func(d apply.Done) {
		n, units := len(d.Units), apply.Brief(d.Units)
		switch d.Op {
		case plan.Install:
			fmt.Fprintf(w, "installed manifests into %s\n", layout.EtcDir)
		case plan.Reload:
			fmt.Fprintln(w, "reloaded systemd (unit files changed)")
		case plan.Stop:
			fmt.Fprintf(w, "stopped %d unit(s): %s\n", n, units)
		case plan.ResetFailed:
			fmt.Fprintf(w, "reset %d failed unit(s): %s\n", n, units)
		case plan.Listen:
			if d.Changed {
				fmt.Fprintf(w, "started %d socket(s): %s\n", n, units)
			}
			if len(d.Held) > 0 {
				fmt.Fprintf(w, "left %d app(s) stopped: %s ('ehecoatl status' says why)\n", len(d.Held), apply.Brief(d.Held))
			}
		case plan.StartRouter:
			fmt.Fprintf(w, "started the router's socket (it did not listen): %s\n", units)
		case plan.Start:
			fmt.Fprintf(w, "started %d unit(s): %s\n", n, units)
		case plan.Restart:
			fmt.Fprintf(w, "restarted %d unit(s): %s\n", n, units)
		case plan.TryRestart:
			fmt.Fprintf(w, "restarted (if running) %d unit(s): %s\n", n, units)
		case plan.ReloadRouter:
			fmt.Fprintln(w, "reloaded the router's table")
		default:
			fmt.Fprintf(w, "%s: %s\n", d.Op, units)
		}
	}
}
