package bootgen

import (
	"fmt"

	"github.com/ehecoatl/ehecoatl/generator"
	"github.com/ehecoatl/ehecoatl/routerenv"
)

// writeMetrics writes the router's metrics socket from
// EHECOATL_METRICS_LISTEN in /etc/default/ehecoatl-router
// (docs/METRICS.md): nothing for off, and nothing, with a message saying
// where and what to write, for a value it cannot use; the router then
// runs without its metrics, as with off. Only an unwritable output
// directory is an error.
func (g SystemdGenerator) writeMetrics(dir string) error {
	m, err := routerenv.ReadMetrics(g.Root)
	if err != nil {
		g.Log(fmt.Sprintf("no metrics socket written: %v; write %s", err, routerenv.Hint))
		return nil
	}
	out, err := generator.MetricsSocket(m)
	if err != nil {
		g.Log(fmt.Sprintf("no metrics socket written: %v", err))
		return nil
	}
	if err := generator.WriteUnits(out, dir); err != nil {
		return fmt.Errorf("ehecoatl-generator: %w", err)
	}
	return nil
}
