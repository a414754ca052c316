package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/ehecoatl/ehecoatl/dbus"
	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/preflight"
)

func doctorCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "doctor",
		Usage:     "check that this host has what the units of DIR (default: the installed manifests) need, as apply does first; exit 1 when a check fails",
		ArgsUsage: "[DIR]",
		Flags:     []ucli.Flag{jsonFlag},
		Action: func(c *ucli.Context) error {
			dir, err := dirArg(c)
			if err != nil {
				return err
			}
			sd := &dbus.Client{}
			defer sd.Close()
			h := preflight.Host{Layout: lay(c), Bin: genOptions().Bin, Systemd: sd}
			// What the manifests use decides whether, e.g., a missing
			// binary fails or only warns; without valid ones, nothing
			// optional is needed.
			set, rep := manifest.Load(dir)
			if rep.HasErrors() {
				set = nil
			}
			rs := preflight.Run(c.Context, h, preflight.NeedsOf(set))
			if c.Bool("json") {
				if err := printJSON(c, rs); err != nil {
					return err
				}
			} else {
				for _, r := range rs {
					fmt.Fprintf(c.App.Writer, "%-4s  %-13s %s\n", r.Level, r.Check, r.Detail)
					if r.Fix != "" {
						fmt.Fprintf(c.App.Writer, "      %-13s fix: %s\n", "", r.Fix)
					}
				}
			}
			if f := preflight.Failed(rs); len(f) > 0 {
				return &silentError{fmt.Errorf("doctor: %d check(s) failed", len(f))}
			}
			return nil
		},
	}
}

// printWarnings prints the preflight warnings of an apply to stderr.
func printWarnings(c *ucli.Context, rs []preflight.Result) {
	for _, r := range preflight.Warnings(rs) {
		msg := "warning: " + r.Check + ": " + r.Detail
		if r.Fix != "" {
			msg += " (fix: " + r.Fix + ")"
		}
		fmt.Fprintln(c.App.ErrWriter, msg)
	}
}
