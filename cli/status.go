package cli

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/ehecoatl/ehecoatl/dbus"
	"github.com/ehecoatl/ehecoatl/health"
	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/naming"
	"github.com/ehecoatl/ehecoatl/status"
	"github.com/ehecoatl/ehecoatl/stops"
	"github.com/ehecoatl/ehecoatl/tlsstate"
	"github.com/ehecoatl/ehecoatl/usage"
)

func statusCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "status",
		Usage:     "per tenant and app: state (running, idle, stopped, suspended, failed), since, memory, CPU, tasks, restarts, domains; the router; with --json also the usage since start of every app and tenant (CPU seconds, memory and its peak, tasks, IO and IP bytes, restarts); exit 1 when an app failed or the router is down",
		ArgsUsage: "[TENANT[/APP]]",
		Flags:     []ucli.Flag{jsonFlag},
		Action: func(c *ucli.Context) error {
			if c.NArg() > 1 {
				return usagef("status takes at most one TENANT or TENANT/APP")
			}
			set, err := loadInstalled(c, lay(c).Etc())
			if err != nil {
				return err
			}
			target := c.Args().First()
			tenant, app, _ := strings.Cut(target, "/")
			if target != "" {
				if _, err := resolveTarget(set, target); err != nil {
					return err
				}
			}
			sd := &dbus.Client{}
			defer sd.Close()
			rows, err := status.Collect(c.Context, set, sd, tenant, lastJournalLine)
			if err != nil {
				return fmt.Errorf("status: %w", err)
			}
			if app != "" {
				rows = slices.DeleteFunc(rows, func(r status.App) bool { return r.App != app })
			}
			router, err := status.CollectRouter(c.Context, sd, lay(c).Path(naming.RouterReloads))
			if err != nil {
				return fmt.Errorf("status: %w", err)
			}
			if rec, ok, err := tlsstate.Read(lay(c).Path(tlsstate.Path)); err != nil {
				fmt.Fprintf(c.App.ErrWriter, "warning: %v\n", err)
			} else if ok {
				status.AttachCertificates(rows, rec)
			}
			// A record left by a router that no longer runs says nothing.
			if rec, ok, err := health.Read(lay(c).Path(health.Path)); err != nil {
				fmt.Fprintf(c.App.ErrWriter, "warning: %v\n", err)
			} else if ok && strings.HasPrefix(router.ServiceState, "active") {
				status.AttachHealth(rows, rec)
			}
			rec, err := stops.Load(lay(c).Stops())
			if err != nil {
				fmt.Fprintf(c.App.ErrWriter, "warning: %v\n", err)
			}
			status.AttachHolds(rows, set, rec)
			if c.Bool("json") {
				tenants := attachUsage(c.Context, c.App.ErrWriter, sd, set, rows)
				err = printJSON(c, struct {
					Router  status.Router   `json:"router"`
					Tenants []status.Tenant `json:"tenants"`
					Apps    []status.App    `json:"apps"`
				}{router, tenants, rows})
			} else {
				// After the table, whose first line stays the header for
				// scripts that cut its columns.
				err = status.Print(c.App.Writer, rows, time.Now())
				status.PrintRouter(c.App.Writer, router)
			}
			if err != nil {
				return err
			}
			return statusExit(rows, router)
		},
	}
}

// attachUsage reads the usage of the rows' apps and their tenants'
// slices (package usage) into the rows, and returns the tenants. What it
// could not read is a warning: the states above are status's answer.
func attachUsage(ctx context.Context, warn io.Writer, sd *dbus.Client, set *manifest.Set, rows []status.App) []status.Tenant {
	shown := map[string]bool{}
	for _, r := range rows {
		shown[r.Tenant+"/"+r.App] = true
	}
	var names []naming.App
	for _, t := range set.Tenants {
		for _, a := range t.Apps {
			if shown[t.Name+"/"+a.Name] {
				names = append(names, a.Names())
			}
		}
	}
	figs, err := usage.Read(ctx, sd, usage.DefaultCgroupRoot(), usage.AppTargets(names))
	if err != nil {
		fmt.Fprintf(warn, "warning: %v\n", err)
	}
	return status.AttachUsage(rows, figs)
}

// statusExit is status's exit code (docs/OPERATIONS.md "Status and exit
// codes"): 1, without another word, when an app failed or the router is
// down; what is wrong was printed.
func statusExit(rows []status.App, r status.Router) error {
	var bad []string
	for _, row := range rows {
		// Every instance down: the router answers the app with 503,
		// whatever systemd says of its units.
		if row.State == status.Failed || row.Health() == "down" {
			bad = append(bad, row.Tenant+"/"+row.App)
		}
	}
	if r.Problem != "" {
		bad = append(bad, "router")
	}
	if len(bad) == 0 {
		return nil
	}
	return &silentError{fmt.Errorf("status: not all well: %s", strings.Join(bad, ", "))}
}

// lastJournalLine returns the last line a unit's processes wrote.
func lastJournalLine(ctx context.Context, unit string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "journalctl", "--no-pager", "-o", "cat", "-n", "1", "_SYSTEMD_UNIT="+unit).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
