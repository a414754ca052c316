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
			// The secret files are judged as this machine shows them: a
			// missing one is not an error (it may live only on the host),
			// one this user cannot see is a warning (apply, as root, always
			// checks), a link or a foreign file is an error.
			set, rep := manifest.Load(dir)
			if !rep.HasErrors() {
				manifest.CheckSecretFiles(set, rep, manifest.SecretFiles{Dir: lay(c).Secrets()})
			}
			set, err = reported(c, dir, set, rep, true)
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
