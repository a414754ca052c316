package cli

import (
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/ehecoatl/ehecoatl/apply"
	"github.com/ehecoatl/ehecoatl/dbus"
)

// controlCommand builds start, stop and restart; what each does is
// plan.Control's, run by apply's engine.
func controlCommand(verb, usage string) *ucli.Command {
	return &ucli.Command{
		Name:      verb,
		Usage:     usage,
		ArgsUsage: "TENANT[/APP]",
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return usagef("%s needs exactly one TENANT or TENANT/APP", verb)
			}
			set, err := loadInstalled(c, lay(c).Etc())
			if err != nil {
				return err
			}
			apps, err := resolveTarget(set, c.Args().First())
			if err != nil {
				return err
			}
			tenant, app, _ := strings.Cut(c.Args().First(), "/")
			target := apply.Target{Tenant: tenant, App: app}
			for _, t := range set.Tenants {
				if t.Name == tenant {
					target.Suspended = t.Suspended
				}
			}
			n := 0
			for _, a := range apps {
				u := appUnits(a)
				target.Apps = append(target.Apps, u)
				n += len(u.Sockets) + len(u.Services)
			}
			sd := &dbus.Client{}
			defer sd.Close()
			opts := apply.Options{Layout: lay(c), Generator: genOptions(), Progress: printer(c.App.Writer), LastLine: lastJournalLine}
			if _, err := apply.Control(c.Context, verb, target, set, sd, opts); err != nil {
				return fmt.Errorf("%s %s: %w", verb, c.Args().First(), err)
			}
			fmt.Fprintf(c.App.Writer, "%s %s: done (%d units)\n", verb, c.Args().First(), n)
			return nil
		},
	}
}
