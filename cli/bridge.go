package cli

import (
	ucli "github.com/urfave/cli/v2"

	"github.com/ehecoatl/ehecoatl/bridge"
)

// bridgeCommand is run by systemd, not by people: the bridge service of a
// `port:` app (docs/DESIGN.md "Port apps").
func bridgeCommand() *ucli.Command {
	return &ucli.Command{
		Name:   "bridge",
		Usage:  "carry connections from the activated socket to a port: app (run by systemd)",
		Hidden: true,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "to", Required: true, Usage: "the app's `ADDRESS`, e.g. 127.0.0.1:8080"},
			&ucli.DurationFlag{Name: "idle-timeout", Usage: "exit after this long without connections; 0 never"},
			&ucli.DurationFlag{Name: "connect-timeout", Value: bridge.DefaultConnectTimeout, Usage: "how long a connection waits for the app to accept"},
		},
		Action: func(c *ucli.Context) error {
			return bridge.Run(c.Context, bridge.Config{
				To:             c.String("to"),
				IdleTimeout:    c.Duration("idle-timeout"),
				ConnectTimeout: c.Duration("connect-timeout"),
			})
		},
	}
}
