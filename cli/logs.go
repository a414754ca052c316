package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"

	ucli "github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/ehecoatl/ehecoatl/manifest"
)

// logsFlags are passed on to journalctl under the same names, so that an
// operator's journalctl habits work (docs/OPERATIONS.md "Logs").
var logsFlags = []ucli.Flag{
	&ucli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing new lines (until Ctrl-C)"},
	&ucli.IntFlag{Name: "lines", Aliases: []string{"n"}, Usage: "show the last `N` lines"},
	&ucli.StringFlag{Name: "since", Aliases: []string{"S"}, Usage: "show lines since `TIME` (journalctl syntax: \"1h ago\", \"today\", \"2026-11-26 10:00\")"},
	&ucli.StringFlag{Name: "until", Aliases: []string{"U"}, Usage: "show lines until `TIME` (journalctl syntax)"},
	&ucli.StringFlag{Name: "priority", Aliases: []string{"p"}, Usage: "show lines of `PRIORITY` or more urgent (err, warning, 0..7, or a range warning..err)"},
	&ucli.StringFlag{Name: "grep", Aliases: []string{"g"}, Usage: "show lines whose message matches `PATTERN` (a PCRE2 regular expression; case-insensitive when all lower case)"},
	&ucli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "short-iso", Usage: "journalctl output `MODE` (short-iso, short-precise, json, cat, ...)"},
}

func logsCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "logs",
		Usage:     "show the journal of a tenant or app (its output and systemd's messages about its units)",
		ArgsUsage: "TENANT[/APP]",
		Description: "An installed tenant's lines, or those a removed tenant left in the journal. " +
			"-f, -n, -S/--since, -U/--until, -p/--priority, -g/--grep and -o/--output mean what they mean to journalctl(1).",
		Flags: logsFlags,
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
			match := []string{"EHECOATL_TENANT=" + tenant}
			if hasApp {
				match = append(match, "EHECOATL_APP="+app)
			}
			set, err := loadInstalled(c, lay(c).Etc())
			if err != nil {
				return err
			}
			apps, err := resolveTarget(set, target)
			if err != nil {
				// A removed tenant's lines stay in the journal: show them,
				// but an unknown name with none is a mistake (a typo).
				if !journalHas(c, match) {
					return fmt.Errorf("logs: %w; the journal has no lines of %s either", err, target)
				}
				fmt.Fprintf(c.App.ErrWriter, "warning: %v; showing the lines %s left in the journal\n", err, target)
			}
			args := append(journalctlArgs(c), match...)
			// systemd's own lines about the units (started, failed, ...)
			// carry UNIT=, not the extra fields: OR them in.
			for _, a := range apps {
				n := appUnits(a)
				us := append(append([]string{}, n.Sockets...), n.Services...)
				if n.Next.Service != "" {
					// The second slot's lines: a rollout's new version.
					us = append(us, n.Next.Stop()...)
				}
				for _, u := range us {
					args = append(args, "+", "UNIT="+u)
				}
			}
			cmd := exec.CommandContext(c.Context, "journalctl", args...)
			// A SIGTERM or SIGINT for ehecoatl alone stops journalctl
			// the way Ctrl-C does, not with SIGKILL.
			cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
			cmd.Stdout, cmd.Stderr, cmd.Stdin = c.App.Writer, c.App.ErrWriter, os.Stdin
			return quietEnd(c, cmd.Run())
		},
	}
}

// journalctlArgs are journalctl's options for the flags given.
func journalctlArgs(c *ucli.Context) []string {
	args := []string{"--no-pager", "-o", c.String("output")}
	if c.Bool("follow") {
		args = append(args, "-f")
	}
	if n := c.Int("lines"); n > 0 {
		args = append(args, "-n", fmt.Sprint(n))
	}
	for _, f := range []string{"since", "until", "priority", "grep"} {
		if v := c.String(f); v != "" {
			args = append(args, "--"+f, v)
		}
	}
	return args
}

// journalHas reports whether the journal holds a line matching match.
func journalHas(c *ucli.Context, match []string) bool {
	out, err := exec.CommandContext(c.Context, "journalctl", append([]string{"--no-pager", "-q", "-o", "cat", "-n", "1"}, match...)...).Output()
	return err == nil && len(out) > 0
}

// quietEnd is how logs ends: Ctrl-C (journalctl, in the same process group,
// gets the SIGINT too) and a reader that went away (`| head`: journalctl
// dies of SIGPIPE or reports EPIPE) are how an operator stops reading, not
// failures.
func quietEnd(c *ucli.Context, err error) error {
	if err == nil || c.Context.Err() != nil || readerGone(c.App.Writer) {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() &&
			(ws.Signal() == syscall.SIGINT || ws.Signal() == syscall.SIGPIPE) {
			return nil
		}
	}
	return fmt.Errorf("logs: journalctl: %w", err)
}

// readerGone reports whether w is a pipe or socket whose reading end was
// closed (poll reports POLLERR for it).
func readerGone(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fds := []unix.PollFd{{Fd: int32(f.Fd()), Events: 0}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n == 1 && fds[0].Revents&unix.POLLERR != 0
}
