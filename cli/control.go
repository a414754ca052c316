package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/ehecoatl/ehecoatl/dbus"
)

// controlCommand builds start, stop and restart. start brings up sockets
// and services at once (no waiting for the first request); stop takes both
// down so nothing activates the app until it is started or applied again;
// restart restarts the services and makes sure the sockets listen.
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
			var sockets, services []string
			for _, a := range apps {
				n := appUnits(a)
				sockets = append(sockets, n.Sockets...)
				services = append(services, n.Services...)
			}
			conn, err := dbus.Connect(c.Context)
			if err != nil {
				return fmt.Errorf("%s: %w", verb, err)
			}
			defer conn.Close()
			ctx := c.Context
			if verb != "stop" {
				// A unit that hit its start limit refuses to start until
				// its failure is reset: start and restart mean "try again".
				for _, u := range append(append([]string{}, sockets...), services...) {
					if err := conn.ResetFailed(ctx, u); err != nil {
						return fmt.Errorf("%s %s: %w", verb, c.Args().First(), err)
					}
				}
			}
			switch verb {
			case "start":
				if err = conn.StartMany(ctx, sockets); err == nil {
					err = conn.StartMany(ctx, services)
				}
			case "stop":
				if err = conn.StopMany(ctx, services); err == nil {
					err = conn.StopMany(ctx, sockets)
				}
			case "restart":
				if err = conn.StartMany(ctx, sockets); err == nil {
					err = conn.RestartMany(ctx, services)
				}
			}
			if err != nil {
				return fmt.Errorf("%s %s: %w", verb, c.Args().First(), err)
			}
			fmt.Fprintf(c.App.Writer, "%s %s: done (%d units)\n", verb, c.Args().First(), len(sockets)+len(services))
			return nil
		},
	}
}
