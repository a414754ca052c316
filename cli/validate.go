package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/ehecoatl/ehecoatl/manifest"
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
			set, rep := manifest.Load(dir)
			for _, f := range rep.Findings {
				fmt.Fprintln(c.App.ErrWriter, f.String())
			}
			if rep.HasErrors() {
				return &silentError{fmt.Errorf("%s is invalid", dir)}
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
