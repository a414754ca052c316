// Command ehecoatl is the Ehecoatl CLI; see package cli.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"

	"github.com/ehecoatl/ehecoatl/cli"
)

// gcPercent is the garbage collector's target unless GOGC says otherwise.
// An apply among 1,000 tenants renders some 11,000 units it keeps to the
// end: at Go's default of 100 a quarter of its CPU went to collecting, at
// 400 its peak memory grows from about 65 to 80 MB (docs/DESIGN.md "Apply
// at scale"). The long-lived commands (`logs -f`, the bridge of `port:`
// apps) hold a small live heap, so four times of it stays small.
const gcPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	// EHECOATL_CPUPROFILE=FILE writes a CPU profile of the command, for
	// `go tool pprof` (docs/DESIGN.md "Apply at scale").
	if p := os.Getenv("EHECOATL_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "ehecoatl: cpu profile: %s\n", err)
			os.Exit(cli.ExitFailed)
		}
		pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	if code != cli.ExitOK {
		pprof.StopCPUProfile()
		os.Exit(code)
	}
}
