package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/ehecoatl/ehecoatl/manifest"
)

// load loads a manifest directory that must be valid. With printAll every
// finding is printed (validate, generate); otherwise only an invalid
// directory's (commands that read the installed set, where warnings on
// every call would be noise).
func load(c *ucli.Context, dir string, printAll bool) (*manifest.Set, error) {
	set, rep := manifest.Load(dir)
	return reported(c, dir, set, rep, printAll)
}

// reported prints a load's findings as load does and fails on errors.
func reported(c *ucli.Context, dir string, set *manifest.Set, rep *manifest.Report, printAll bool) (*manifest.Set, error) {
	if printAll || rep.HasErrors() {
		fmt.Fprint(c.App.ErrWriter, rep.String())
	}
	if rep.HasErrors() {
		return nil, &silentError{fmt.Errorf("%s is invalid", dir)}
	}
	return set, nil
}

// loadInstalled loads the installed (or a given) set for commands that
// act on it.
func loadInstalled(c *ucli.Context, dir string) (*manifest.Set, error) { return load(c, dir, false) }
