package generator

import (
	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/units"
)

// envFile renders an app's env for EnvironmentFile=; nil when it has none.
// Unexported: the rendering (Output.Env) is the only source of env files,
// so that plan and apply cannot disagree on their bytes.
func envFile(a *manifest.App) ([]byte, error) {
	if len(a.Env) == 0 {
		return nil, nil
	}
	return units.EnvFile(a.Env)
}
