package generator

import (
	"maps"

	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/naming"
	"github.com/ehecoatl/ehecoatl/units"
)

// envFile renders an app's env file for EnvironmentFile=: the manifest's
// env and the command's arguments (argv[1:]) in naming.ArgsVar, which
// the unit's "ExecStart=PROGRAM $EHECOATL_ARGS" takes apart (units.EnvArgs).
// Every app has one. Unexported: the rendering (Output.Env) is the only
// source of env files, so that plan and apply cannot disagree on their
// bytes.
func envFile(a *manifest.App) ([]byte, error) {
	args, err := units.EnvArgs(a.Command[1:])
	if err != nil {
		return nil, err
	}
	vars := map[string]string{naming.ArgsVar: args}
	maps.Copy(vars, a.Env)
	return units.EnvFile(vars)
}
