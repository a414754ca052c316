package generator

import (
	"maps"

	"github.com/ehecoatl/ehecoatl/appexec"
	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/units"
)

// envFile renders an app's env file for EnvironmentFile=: the manifest's
// env and the app's command, as the variables the launcher takes out of
// the environment before it execs the app (package appexec). Every app
// has one. Unexported: the rendering (Output.Env) is the only source of
// env files, so that plan and apply cannot disagree on their bytes.
func envFile(a *manifest.App) ([]byte, error) {
	vars := appexec.Vars(a.Command)
	maps.Copy(vars, a.Env)
	return units.EnvFile(vars)
}
