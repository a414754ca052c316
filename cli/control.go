package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/ehecoatl/ehecoatl/apply"
	"github.com/ehecoatl/ehecoatl/dbus"
	"github.com/ehecoatl/ehecoatl/naming"
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
			var units []naming.Units
			n := 0
			for _, a := range apps {
				u := appUnits(a)
				units = append(units, u)
				n += len(u.Sockets) + len(u.Services)
			}
			sd := &dbus.Client{}
			defer sd.Close()
			if _, err := apply.Control(c.Context, verb, units, sd, printer(c.App.Writer)); err != nil {
				return fmt.Errorf("%s %s: %w", verb, c.Args().First(), err)
			}
			fmt.Fprintf(c.App.Writer, "%s %s: done (%d units)\n", verb, c.Args().First(), n)
			return nil
		},
	}
}
