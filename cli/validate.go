package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"
)

func validateCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "validate",
		Usage:     "check a manifest directory; print every problem with file:line:col",
		ArgsUsage: "[DIR]",
		Action: func(c *ucli.Context) error {
			dir, err := dirArg(c)
			if err != nil {
				return err
			}
			set, err := load(c, dir, true)
			if err != nil {
				return err
			}
			apps := 0
			for _, t := range set.Tenants {
				apps += len(t.Apps)
			}
			fmt.Fprintf(c.App.Writer, "%s: valid (%d tenants, %d apps, %d routes)\n", dir, len(set.Tenants), apps, len(set.Routes))
			return nil
		},
	}
}
