package generator

import (
	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/units"
)

// EnvFile renders an app's env for EnvironmentFile=; nil when it has none.
// apply installs it at naming.EnvFileRel below the manifests.
func EnvFile(a *manifest.App) ([]byte, error) {
	if len(a.Env) == 0 {
		return nil, nil
	}
	return units.EnvFile(a.Env)
}
