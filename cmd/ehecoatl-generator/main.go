// Command ehecoatl-generator is Ehecoatl's systemd generator
// (systemd.generator(7)), installed in the system-generators directory. At
// every boot and daemon-reload systemd runs it with the normal, early and
// late output directories; it renders the manifests installed under
// /etc/ehecoatl into units in the normal directory. A tenant that cannot be
// rendered is skipped and logged to the kernel log; the exit status is
// non-zero only when nothing can be done (bad arguments, unwritable
// directory). For tests, EHECOATL_ROOT is prepended to /etc/ehecoatl.
package main

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/ehecoatl/ehecoatl/bootgen"
)

func main() {
	// PID 1 waits for the generator in every daemon-reload. Rendering
	// 1,000 tenants keeps its units to the end: at Go's default GC
	// target of 100 a fifth of its user CPU went to collecting; at 400
	// its peak memory grows from about 44 to 55 MB.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if err := bootgen.RunSystemdGenerator(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
