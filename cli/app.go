// Package cli is the `ehecoatl` command line: flag parsing and output
// formatting only; the work happens in manifest, generator, apply, dbus and
// the other packages.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/ehecoatl/ehecoatl/generator"
	"github.com/ehecoatl/ehecoatl/layout"
	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/naming"
)

// Version is set at build time with -ldflags "-X .../cli.Version=...".
var Version = "dev"

// Exit codes, as README.md lists them.
const (
	ExitOK     = 0
	ExitFailed = 1 // invalid input or failed operation
	ExitUsage  = 2
)

// usageError marks errors of how the command was called (exit 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// silentError is a failure whose details were already printed.
type silentError struct{ err error }

func (e *silentError) Error() string { return e.err.Error() }
func (e *silentError) Unwrap() error { return e.err }

// Main runs the CLI with args (os.Args) and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := New(stdout, stderr)
	if n := len(args); n > 0 && args[n-1] == completeFlag {
		complete(app, args[1:n-1], stdout)
		return ExitOK
	}
	err := app.RunContext(ctx, interspersed(app, args))
	return report(err, stderr)
}

func report(err error, stderr io.Writer) int {
	if err == nil {
		return ExitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "ehecoatl: %s\n", ue.msg)
		return ExitUsage
	}
	// urfave/cli reports missing required flags with an unexported type.
	if strings.HasPrefix(err.Error(), "Required flag") {
		fmt.Fprintf(stderr, "ehecoatl: %s (see 'ehecoatl COMMAND --help')\n", err)
		return ExitUsage
	}
	var se *silentError
	if !errors.As(err, &se) {
		fmt.Fprintf(stderr, "ehecoatl: %s\n", err)
	}
	return ExitFailed
}

// New builds the urfave/cli application; exported for man page and
// completion generation.
func New(stdout, stderr io.Writer) *ucli.App {
	app := &ucli.App{
		Name:        "ehecoatl",
		Usage:       "run tenants' apps as sandboxed, socket-activated systemd services",
		Description: "ehecoatl turns a directory of tenant manifests (tenants/*.yaml, kits/*.yaml) into systemd units — a slice per tenant, a sandboxed DynamicUser service and a socket per app — and controls them over D-Bus. See ehecoatl.yaml(5) for the manifest format.",
		Version:     Version,
		Writer:      stdout,
		ErrWriter:   stderr,
		Suggest:     true,
		Flags: []ucli.Flag{
			&ucli.StringFlag{
				Name:    "root",
				Usage:   "operate on the host tree below `DIR` instead of / (for tests and image builds)",
				EnvVars: []string{"EHECOATL_ROOT"},
				Value:   "/",
			},
		},
		Commands: []*ucli.Command{
			validateCommand(),
			planCommand(),
			applyCommand(),
			historyCommand(),
			rollbackCommand(),
			generateCommand(),
			statusCommand(),
			topCommand(),
			doctorCommand(),
			controlCommand("start", "start a tenant's or app's sockets and services, clearing an operator's stop (refused for a suspended tenant)"),
			controlCommand("stop", "stop a tenant's or app's services and sockets, and record the stop: applies, reboots and the router (503) respect it until start"),
			controlCommand("restart", "restart a tenant's or app's services (clears an operator's stop, as start does)"),
			logsCommand(),
			routesCommand(),
			initCommand(),
			purgeCommand(),
			bridgeCommand(),
			versionCommand(),
		},
		OnUsageError: func(c *ucli.Context, err error, _ bool) error {
			return usagef("%s (see 'ehecoatl --help')", err)
		},
		// Without a matching command urfave/cli runs the root action.
		Action: func(c *ucli.Context) error {
			if c.NArg() == 0 {
				ucli.ShowAppHelp(c)
				return usagef("a command is required")
			}
			return usagef("unknown command %q (see 'ehecoatl --help')", c.Args().First())
		},
		ExitErrHandler: func(*ucli.Context, error) {},
	}
	for _, c := range app.Commands {
		c.OnUsageError = app.OnUsageError
		documentDefaults(c)
	}
	return app
}

// documentDefaults puts into a command's --help (and so into ehecoatl(1))
// what urfave/cli leaves out: the default of an optional DIR argument, and
// which flags are required.
func documentDefaults(c *ucli.Command) {
	if strings.HasPrefix(c.ArgsUsage, "[DIR]") {
		c.Description = strings.TrimSpace(c.Description + "\n\nDIR defaults to /etc/ehecoatl, the installed manifests (below --root).")
	}
	for _, f := range c.Flags {
		if r, ok := f.(ucli.RequiredFlag); !ok || !r.IsRequired() {
			continue
		}
		switch f := f.(type) {
		case *ucli.StringFlag:
			f.Usage += " (required)"
		case *ucli.StringSliceFlag:
			f.Usage += " (required)"
		}
	}
}

func lay(c *ucli.Context) layout.Layout { return layout.Layout{Root: c.String("root")} }

// genOptions are the generator options every command renders with; the
// generator binary completes its options with the same ForHost, so that
// plan, apply, generate and it agree byte for byte.
func genOptions() generator.Options { return generator.Options{}.ForHost() }

// appUnits are the units of an app, as the generator names them.
func appUnits(a *manifest.App) naming.Units {
	return a.Names().Units("")
}

// dirArg returns the optional DIR argument (default /etc/ehecoatl under root).
func dirArg(c *ucli.Context) (string, error) {
	switch c.NArg() {
	case 0:
		return lay(c).Etc(), nil
	case 1:
		return c.Args().First(), nil
	}
	return "", usagef("%s takes at most one DIR argument", c.Command.Name)
}

func versionCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "version",
		Usage: "print the version",
		Action: func(c *ucli.Context) error {
			fmt.Fprintf(c.App.Writer, "ehecoatl %s\n", Version)
			return nil
		},
	}
}
