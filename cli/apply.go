package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/ehecoatl/ehecoatl/apply"
	"github.com/ehecoatl/ehecoatl/dbus"
)

func applyCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "apply",
		Usage:     "validate DIR, install it as the host's manifests and make systemd run it",
		ArgsUsage: "[DIR]",
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "only print the plan"},
			&ucli.BoolFlag{Name: "timings", Usage: "print how long each phase took"},
		},
		Action: func(c *ucli.Context) error {
			dir, err := dirArg(c)
			if err != nil {
				return err
			}
			opts := apply.Options{Layout: lay(c), Generator: genOptions(), Progress: printer(c.App.Writer)}
			if c.Bool("dry-run") {
				p, err := apply.Plan(dir, opts)
				if err != nil {
					return printInvalid(c, err)
				}
				p.Print(c.App.Writer)
				return nil
			}
			// The client connects on first use: an invalid DIR fails the
			// same way on a host without systemd.
			sd := &dbus.Client{}
			defer sd.Close()
			res, err := apply.Apply(c.Context, dir, sd, opts)
			if err != nil {
				return printInvalid(c, err)
			}
			if !res.Changed() {
				fmt.Fprintln(c.App.Writer, "nothing changed: the host already runs these manifests")
			}
			warnUnenforced(c, "/sys/fs/cgroup")
			if c.Bool("timings") {
				for _, t := range res.Timings {
					fmt.Fprintf(c.App.Writer, "timing: %-22s %s\n", t.Phase, t.Duration.Round(time.Millisecond))
				}
			}
			return nil
		},
	}
}

// warnUnenforced tells the operator of a host without the unified cgroup
// hierarchy that what apply wrote is not all enforced there
// (docs/DESIGN.md "Network"): the kernel applies no cgroup v2 limit or IP
// rule, and ehecoatl-firewall is skipped. The units still start, as they
// would with systemd alone.
func warnUnenforced(c *ucli.Context, cgroupRoot string) {
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		return
	}
	fmt.Fprintln(c.App.ErrWriter, "warning: this host does not use the unified cgroup hierarchy (cgroup v2): "+
		"tenant limits, egress lists and ehecoatl-firewall are written but not enforced "+
		"(boot with systemd.unified_cgroup_hierarchy=1)")
}
