package cli

import (
	"fmt"
	"os"

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
			// The secret files are judged as this machine shows them: one
			// this user cannot see is a warning (apply, as root, always
			// checks), a link or a foreign file is an error, and a missing
			// one an error for root only (elsewhere, in CI, the secrets may
			// live only on the host).
			set, rep := manifest.Load(dir)
			if !rep.HasErrors() {
				manifest.CheckSecretFiles(set, rep, manifest.SecretFiles{Dir: lay(c).Secrets(), MustExist: os.Geteuid() == 0})
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
