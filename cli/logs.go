package cli

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/ehecoatl/ehecoatl/manifest"
)

func logsCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "logs",
		Usage:     "show the journal of a tenant or app (its output and systemd's messages about its units)",
		ArgsUsage: "TENANT[/APP]",
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing new lines"},
			&ucli.StringFlag{Name: "since", Aliases: []string{"S"}, Usage: "show lines since `TIME` (journalctl syntax: \"1h ago\", \"today\", \"2026-11-26 10:00\")"},
			&ucli.IntFlag{Name: "lines", Aliases: []string{"n"}, Usage: "show the last `N` lines"},
			&ucli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "short-iso", Usage: "journalctl output `MODE` (short-iso, json, cat, ...)"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return usagef("logs needs exactly one TENANT or TENANT/APP")
			}
			target := c.Args().First()
			tenant, app, hasApp := strings.Cut(target, "/")
			if err := manifest.ValidName(tenant); err != nil {
				return usagef("logs: %v", err)
			}
			if hasApp {
				if err := manifest.ValidName(app); err != nil {
					return usagef("logs: %v", err)
				}
			}
			args := []string{"--no-pager", "-o", c.String("output")}
			if c.Bool("follow") {
				args = append(args, "-f")
			}
			if s := c.String("since"); s != "" {
				args = append(args, "--since", s)
			}
			if n := c.Int("lines"); n > 0 {
				args = append(args, "-n", fmt.Sprint(n))
			}
			args = append(args, "EHECOATL_TENANT="+tenant)
			if hasApp {
				args = append(args, "EHECOATL_APP="+app)
			}
			// systemd's own lines about the units (started, failed, ...)
			// carry UNIT=, not the extra fields: OR them in.
			if set, rep := manifest.Load(lay(c).Etc()); !rep.HasErrors() {
				if apps, err := resolveTarget(set, target); err == nil {
					for _, a := range apps {
						n := appUnits(a)
						for _, u := range append(append([]string{}, n.Sockets...), n.Services...) {
							args = append(args, "+", "UNIT="+u)
						}
					}
				}
			}
			cmd := exec.CommandContext(c.Context, "journalctl", args...)
			cmd.Stdout, cmd.Stderr, cmd.Stdin = c.App.Writer, c.App.ErrWriter, os.Stdin
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("logs: journalctl: %w", err)
			}
			return nil
		},
	}
}
