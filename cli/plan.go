package cli

import (
	"encoding/json"
	"errors"
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/ehecoatl/ehecoatl/apply"
)

var jsonFlag = &ucli.BoolFlag{Name: "json", Usage: "print JSON instead of text"}

// printJSON prints v as the --json output of a command.
func printJSON(c *ucli.Context, v any) error {
	enc := json.NewEncoder(c.App.Writer)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func planCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "plan",
		Usage:     "show what apply would change: tenants, apps, unit files; units to start, restart, stop",
		ArgsUsage: "[DIR]",
		Flags:     []ucli.Flag{jsonFlag},
		Action: func(c *ucli.Context) error {
			dir, err := dirArg(c)
			if err != nil {
				return err
			}
			p, err := apply.Plan(dir, apply.Options{Layout: lay(c), Generator: genOptions()})
			if err != nil {
				return printInvalid(c, err)
			}
			if c.Bool("json") {
				return printJSON(c, p)
			}
			p.Print(c.App.Writer)
			return nil
		},
	}
}

// printInvalid prints every finding of a validation failure.
func printInvalid(c *ucli.Context, err error) error {
	var inv *apply.InvalidError
	if errors.As(err, &inv) {
		fmt.Fprint(c.App.ErrWriter, inv.Report.String())
		fmt.Fprintln(c.App.ErrWriter, inv.Error())
		return &silentError{err}
	}
	return err
}
