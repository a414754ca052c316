package cli

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/naming"
)

func purgeCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "purge",
		Usage:     "delete the state directories of a tenant that apply removed (asks first)",
		ArgsUsage: "TENANT",
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return usagef("purge needs exactly one TENANT")
			}
			tenant := c.Args().First()
			if err := manifest.ValidName(tenant); err != nil {
				return usagef("purge: %v", err)
			}
			l := lay(c)
			if _, err := os.Stat(filepath.Join(l.Etc(), "tenants", tenant+".yaml")); err == nil {
				return fmt.Errorf("purge: tenant %s is still installed; remove tenants/%s.yaml and run 'ehecoatl apply' first", tenant, tenant)
			}
			paths, err := tenantStatePaths(l.AppState(), l.AppStateLinks(), tenant)
			if err != nil {
				return fmt.Errorf("purge: %w", err)
			}
			if len(paths) == 0 {
				fmt.Fprintf(c.App.Writer, "tenant %s has no state to delete\n", tenant)
				return nil
			}
			fmt.Fprintf(c.App.Writer, "will delete:\n  %s\n", strings.Join(paths, "\n  "))
			if !c.Bool("yes") {
				if fi, err := os.Stdin.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
					return usagef("purge: refusing to delete without --yes when not run from a terminal")
				}
				fmt.Fprint(c.App.Writer, "delete these? [y/N] ")
				ans, _ := bufio.NewReader(os.Stdin).ReadString('\n')
				if a := strings.TrimSpace(strings.ToLower(ans)); a != "y" && a != "yes" {
					return &silentError{fmt.Errorf("purge: cancelled")}
				}
			}
			for _, p := range paths {
				if err := os.RemoveAll(p); err != nil {
					return fmt.Errorf("purge: %w", err)
				}
			}
			fmt.Fprintf(c.App.Writer, "deleted %d path(s) of tenant %s\n", len(paths), tenant)
			return nil
		},
	}
}

// tenantStatePaths lists the state directories systemd created for the
// tenant's DynamicUser apps (StateDirectory=ehecoatl-<tenant>-<app>[-N]) and
// their compatibility symlinks. Tenant names cannot contain '-', so the
// prefix never matches another tenant.
func tenantStatePaths(private, links, tenant string) ([]string, error) {
	var out []string
	for _, dir := range []string{private, links} {
		m, err := filepath.Glob(filepath.Join(dir, naming.StatePrefix(tenant)+"*"))
		if err != nil {
			return nil, err
		}
		out = append(out, m...)
	}
	return out, nil
}
