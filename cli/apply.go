package cli

import (
	"fmt"
	"maps"
	"slices"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/ehecoatl/ehecoatl/apply"
	"github.com/ehecoatl/ehecoatl/dbus"
	"github.com/ehecoatl/ehecoatl/plan"
	"github.com/ehecoatl/ehecoatl/preflight"
)

// printState prints what the apply did with the apps' state directories.
func printState(c *ucli.Context, p *plan.Plan) {
	for _, id := range slices.Sorted(maps.Keys(p.State)) {
		fmt.Fprintf(c.App.Writer, "state of %s: %s\n", id, p.State[id])
	}
}

func applyCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "apply",
		Usage:     "validate DIR, install it as the host's manifests and make systemd run it",
		ArgsUsage: "[DIR]",
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "only print the plan"},
			&ucli.BoolFlag{Name: "timings", Usage: "print how long each phase took"},
			&ucli.BoolFlag{Name: "prune", Aliases: []string{"yes", "y"}, Usage: "allow removing every installed tenant, or more than half of them"},
			&ucli.BoolFlag{Name: "full", EnvVars: []string{apply.FullEnv}, Usage: "validate and render DIR even when no input changed since the last apply"},
		},
		Action: func(c *ucli.Context) error {
			dir, err := dirArg(c)
			if err != nil {
				return err
			}
			warnInstalledDir(c)
			keep, err := keepSetting(c)
			if err != nil {
				return err
			}
			// The client connects on first use: an invalid DIR fails the
			// same way on a host without systemd.
			sd := &dbus.Client{}
			defer sd.Close()
			opts := apply.Options{Layout: lay(c), Generator: genOptions(), Progress: printer(c.App.Writer), LastLine: lastJournalLine, Prune: c.Bool("prune"), Keep: keep, Full: c.Bool("full")}
			if c.Bool("dry-run") {
				p, err := apply.Plan(dir, opts)
				if err != nil {
					return printInvalid(c, err)
				}
				printFindings(c, p.Warnings)
				p.Print(c.App.Writer)
				return nil
			}
			opts.Preflight = &preflight.Host{Layout: opts.Layout, Bin: opts.Generator.Bin, Systemd: sd}
			res, err := apply.Apply(c.Context, dir, sd, opts)
			if res != nil {
				printFindings(c, res.Warnings)
				printWarnings(c, res.Preflight)
			}
			if err != nil {
				return printInvalid(c, err)
			}
			printState(c, res.Plan)
			if !res.Changed() {
				fmt.Fprintln(c.App.Writer, "nothing changed: the host already runs these manifests")
			}
			if c.Bool("timings") {
				fmt.Fprintf(c.App.Writer, "render: %s\n", res.Render)
				for _, t := range res.Timings {
					fmt.Fprintf(c.App.Writer, "timing: %-22s %s\n", t.Phase, t.Duration.Round(time.Millisecond))
				}
			}
			return nil
		},
	}
}
