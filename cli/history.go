package cli

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/ehecoatl/ehecoatl/apply"
	"github.com/ehecoatl/ehecoatl/dbus"
	"github.com/ehecoatl/ehecoatl/history"
	"github.com/ehecoatl/ehecoatl/plan"
	"github.com/ehecoatl/ehecoatl/preflight"
)

// keepSetting is how many previous generations an apply keeps, from the
// host's settings file (docs/OPERATIONS.md "History and rollback").
func keepSetting(c *ucli.Context) (int, error) {
	return history.Keep(lay(c).Path(history.SettingsFile))
}

func historyCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "history",
		Usage: "list the kept generations of installed manifests, newest first: when each became current, by whom, by which command and what that changed",
		Description: "Generation 0 is the current one (marked *), 1 the one current before it, and so on; 'ehecoatl rollback N' or a prefix of an ID re-applies one. " +
			"Apply keeps " + fmt.Sprint(history.DefaultKeep) + " previous generations, or " + history.KeepKey + " in " + history.SettingsFile + ".",
		Flags: []ucli.Flag{jsonFlag},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 0 {
				return usagef("history takes no arguments")
			}
			gens, err := apply.History(lay(c))
			if err != nil {
				return err
			}
			if c.Bool("json") {
				if gens == nil {
					gens = []history.Generation{}
				}
				return printJSON(c, gens)
			}
			if len(gens) == 0 {
				fmt.Fprintln(c.App.Writer, "no generations: nothing was applied yet")
				return nil
			}
			w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "  N\tID\tAPPLIED\tBY\tCOMMAND\tCHANGES")
			for _, g := range gens {
				mark := " "
				if g.Current {
					mark = "*"
				}
				fmt.Fprintf(w, "%s %d\t%s\t%s\t%s\t%s\t%s\n", mark, g.N, g.Generation, g.Applied.Format(time.RFC3339),
					orDash(g.By), orDash(g.Command), orDash(g.Summary))
			}
			return w.Flush()
		},
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func rollbackCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "rollback",
		Usage:     "re-apply a kept generation (default: the one current before the current one); prints the plan, then applies it as apply does",
		ArgsUsage: "[GEN]",
		Description: "GEN is a number of 'ehecoatl history' (1 is the previous generation) or at least 4 characters of a generation's ID. " +
			"The generation's manifests and env files are applied through the same path as apply: validation, host checks, the lock, the refusal of a plan removing more than half of the tenants (--prune), the record. " +
			"Secrets are not part of a generation: their current files are used. Rolling back twice returns to where you were, since the generation left becomes the previous one. " +
			"Rolling back to the current generation changes nothing.",
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "only print the plan"},
			&ucli.BoolFlag{Name: "prune", Aliases: []string{"yes", "y"}, Usage: "allow removing every installed tenant, or more than half of them"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() > 1 {
				return usagef("rollback takes at most one GEN argument")
			}
			arg := c.Args().First()
			keep, err := keepSetting(c)
			if err != nil {
				return err
			}
			sd := &dbus.Client{}
			defer sd.Close()
			opts := apply.Options{Layout: lay(c), Generator: genOptions(), Progress: printer(c.App.Writer), Prune: c.Bool("prune"), Keep: keep}
			g, err := apply.RollbackTarget(opts.Layout, arg)
			var cur *apply.CurrentError
			if errors.As(err, &cur) {
				fmt.Fprintf(c.App.Writer, "%s is the current generation: nothing to roll back, nothing was changed\n", cur.Generation.Generation)
				return nil
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "rollback to %s (generation %d, applied %s by %s: %s)\n", g.Generation, g.N, g.Applied.Format(time.RFC3339), orDash(g.By), orDash(g.Summary))
			if c.Bool("dry-run") {
				p, err := apply.Plan(g.Dir, opts)
				if err != nil {
					return printInvalid(c, err)
				}
				printFindings(c, p.Warnings)
				p.Print(c.App.Writer)
				return nil
			}
			opts.Preflight = &preflight.Host{Layout: opts.Layout, Bin: opts.Generator.Bin, Systemd: sd}
			// The plan executed, computed under apply's lock, before its steps.
			opts.Planned = func(p *plan.Plan) { p.Print(c.App.Writer) }
			res, err := apply.Rollback(c.Context, g, sd, opts)
			if res != nil {
				printFindings(c, res.Warnings)
				printWarnings(c, res.Preflight)
			}
			if err != nil {
				return printInvalid(c, err)
			}
			printState(c, res.Plan)
			fmt.Fprintf(c.App.Writer, "rolled back to %s\n", g.Generation)
			return nil
		},
	}
}
