package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	ucli "github.com/urfave/cli/v2"

	"github.com/ehecoatl/ehecoatl/apply"
	"github.com/ehecoatl/ehecoatl/manifest"
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
		Usage:     "show what apply would change: tenants, apps and their changed fields (never values), unit files, state; units to start, restart, stop",
		ArgsUsage: "[DIR]",
		Flags:     []ucli.Flag{jsonFlag},
		Action: func(c *ucli.Context) error {
			dir, err := dirArg(c)
			if err != nil {
				return err
			}
			warnInstalledDir(c)
			p, err := apply.Plan(dir, apply.Options{Layout: lay(c), Generator: genOptions()})
			if err != nil {
				return printInvalid(c, err)
			}
			if c.Bool("json") {
				return printJSON(c, p)
			}
			printFindings(c, p.Warnings)
			p.Print(c.App.Writer)
			return nil
		},
	}
}

// printFindings prints validation warnings as validate does.
func printFindings(c *ucli.Context, fs []manifest.Finding) {
	if len(fs) > 0 {
		fmt.Fprint(c.App.ErrWriter, (&manifest.Report{Findings: fs}).String())
	}
}

// warnInstalledDir warns when plan or apply, given no DIR, acts on the
// installed manifests from a directory that looks like a manifest
// directory itself: the operator probably meant this one.
func warnInstalledDir(c *ucli.Context) {
	if c.NArg() != 0 {
		return
	}
	if fi, err := os.Stat("tenants"); err != nil || !fi.IsDir() {
		return
	}
	if cwd, err := os.Getwd(); err == nil && filepath.Clean(cwd) == filepath.Clean(lay(c).Etc()) {
		return
	}
	fmt.Fprintf(c.App.ErrWriter, "warning: no DIR given: %s uses the installed manifests in %s, not ./tenants here (for this directory: ehecoatl %s .)\n",
		c.Command.Name, lay(c).Etc(), c.Command.Name)
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
