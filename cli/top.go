package cli

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/ehecoatl/ehecoatl/top"
)

func topCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "top",
		Usage: "a live view of tenants and apps by CPU, memory (against its limit), tasks, requests per second and 5xx answers per second, from the router's metrics",
		Description: "Refreshes every --interval until Ctrl-C; each tenant's line is its slice (its apps together), its apps are below it. " +
			"CPU% is of one CPU; rates are over the last refresh, so they show after the first. " +
			"The figures come from the router's metrics endpoint, " + top.ListenVar + " in " + top.SettingsFile + " (default " + top.DefaultListen + "; docs/METRICS.md), or --metrics.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "sort", Value: "cpu", Usage: "sort tenants, and the apps of each, by `FIGURE`: " + strings.Join(top.Sorts, ", ") + " (largest first)"},
			&ucli.BoolFlag{Name: "once", Usage: "scrape twice, --interval apart, print the table once and exit"},
			&ucli.BoolFlag{Name: "json", Usage: "print one view as JSON and exit (as --once)"},
			&ucli.DurationFlag{Name: "interval", Value: time.Second, Usage: "time between refreshes"},
			&ucli.StringFlag{Name: "metrics", Usage: "the router's metrics `URL` (default: from " + top.SettingsFile + ")"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 0 {
				return usagef("top takes no arguments")
			}
			sort := c.String("sort")
			if !slices.Contains(top.Sorts, sort) {
				return usagef("--sort must be one of %s, not %q", strings.Join(top.Sorts, ", "), sort)
			}
			if c.Duration("interval") < 100*time.Millisecond {
				return usagef("--interval must be at least 100ms")
			}
			url := c.String("metrics")
			if url == "" {
				var err error
				if url, err = top.EndpointURL(lay(c).Path(top.SettingsFile)); err != nil {
					if errors.Is(err, top.ErrOff) {
						return fmt.Errorf("%w: set it to an address (%s) and run 'systemctl daemon-reload && systemctl restart ehecoatl-router-metrics.socket ehecoatl-router.service', or pass --metrics URL", err, top.DefaultListen)
					}
					return err
				}
			}
			o := top.Options{
				URL: url, Sort: sort, Interval: c.Duration("interval"), Once: c.Bool("once"), JSON: c.Bool("json"),
				Client: &http.Client{Timeout: 5 * time.Second},
			}
			if f, ok := c.App.Writer.(*os.File); ok && isTerminal(f) {
				o.Terminal = true
				o.Height = func() int { return terminalHeight(f) }
			}
			err := top.Run(c.Context, c.App.Writer, o)
			if _, ok := errors.AsType[*top.UnreachableError](err); ok {
				return fmt.Errorf("%w\n  is the router running with its metrics socket? 'systemctl status ehecoatl-router-metrics.socket'; "+
					"the address is %s in %s (off: no endpoint), or pass --metrics URL", err, top.ListenVar, top.SettingsFile)
			}
			return err
		},
	}
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// terminalHeight is f's number of rows; 24 when it cannot be read.
func terminalHeight(f *os.File) int {
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil || ws.Row == 0 {
		return 24
	}
	return int(ws.Row)
}
