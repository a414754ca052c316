// Command ehecoatl is the Ehecoatl CLI; see package cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/ehecoatl/ehecoatl/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
