package plan

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/naming"
)

// The app fields a plan names when they change, in the order it names
// them: what restarts the app (table order of docs/MANIFEST.md), then env
// and secrets, then what only the router or a rollout reads. env.KEY and the secret
// rotations sit between the two groups; domains and secrets are listed
// with the names added and removed.
var (
	unitFields  = []string{"kit", "command", "listen", "port", "state", "read_only", "connect", "egress", "workers", "idle_timeout", "memory", "restart", "watchdog", "health"}
	routeFields = []string{"path", "tls", "hsts", "drain", "deploy"}
)

// fieldsOf hashes each field of a (after kit merging) that is set: a
// record must not hold the manifest's values (env and command may carry
// passwords), only enough to say which field changed. An unset field has
// no entry, which keeps the record small.
func fieldsOf(a *manifest.App) map[string]string {
	f := map[string]string{}
	put := func(k string, v any, set bool) {
		if set {
			f[k] = hash(fmt.Appendf(nil, "%q", v))
		}
	}
	put("kit", a.Kit, a.Kit != "")
	put("command", a.Command, len(a.Command) > 0)
	put("listen", a.Listen, a.Listen != "")
	put("port", fmt.Sprint(a.Port), a.Port != 0)
	put("state", "true", a.State)
	put("read_only", a.ReadOnly, len(a.ReadOnly) > 0)
	put("connect", a.Connect, len(a.Connect) > 0)
	put("egress", fmt.Sprint(a.Egress), len(a.Egress) > 0)
	put("workers", fmt.Sprint(a.Workers), a.Workers > 1)
	put("idle_timeout", a.IdleTimeout.String(), true)
	put("memory", fmt.Sprint(a.Memory), a.Memory != 0)
	put("restart", a.Restart, a.Restart != "")
	put("watchdog", a.Watchdog.String(), a.Watchdog != 0)
	put("drain", a.Drain.String(), a.Drain != manifest.DefaultDrain)
	put("deploy", a.Deploy, a.Deploy != "" && a.Deploy != manifest.DeployRolling)
	put("health", a.Health, a.Health != "")
	put("path", a.Path, a.Path != "" && a.Path != "/")
	put("tls", a.TLS.Mode+" "+a.TLS.CertFile+" "+a.TLS.KeyFile, a.TLS.Mode != "" && a.TLS.Mode != manifest.TLSAuto)
	put("hsts", "true", a.HSTS)
	for k, v := range a.Env {
		f["env."+k] = hash([]byte(v))
	}
	return f
}

// stateDir is the app's state directory on the host, "" without state:.
func stateDir(a *manifest.App) string {
	if !a.State {
		return ""
	}
	return path.Join(naming.PrivateStateDir, a.Names().StateDirectory())
}

// appChanges names what changed between two records of an app, never a
// value: "command", "env.SHOP_MODE", "secret db_password rotated",
// "domains +www.acme.example.com". nil when the older record predates
// field hashes (nothing to compare) or nothing it names changed.
func appChanges(oa, na *AppState) []string {
	if oa.Fields == nil {
		return nil
	}
	var out []string
	changed := func(k string) bool { return oa.Fields[k] != na.Fields[k] }
	for _, k := range unitFields {
		if changed(k) {
			out = append(out, k)
		}
	}
	if s := listChange("secrets", slices.Sorted(maps.Keys(oa.Secrets)), slices.Sorted(maps.Keys(na.Secrets))); s != "" {
		out = append(out, s)
	}
	for _, k := range union(envKeys(oa.Fields), envKeys(na.Fields)) {
		if changed(k) {
			out = append(out, k)
		}
	}
	for _, name := range rotated(oa, na) {
		out = append(out, "secret "+name+" rotated")
	}
	if s := listChange("domains", oa.Domains, na.Domains); s != "" {
		out = append(out, s)
	}
	for _, k := range routeFields {
		if changed(k) {
			out = append(out, k)
		}
	}
	return out
}

func envKeys(f map[string]string) []string {
	var out []string
	for k := range f {
		if strings.HasPrefix(k, "env.") {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// rotated lists the secrets whose content changed. A side that could not
// read the file (plan as a user without root, a record from before these
// hashes) has no hash, and proves nothing.
func rotated(oa, na *AppState) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(na.Secrets)) {
		o, n := oa.Secrets[name], na.Secrets[name]
		if o != "" && n != "" && o != n {
			out = append(out, name)
		}
	}
	return out
}

// listChange is "domains +a -b", or "" when the lists hold the same names
// (an order change routes the same).
func listChange(field string, old, new []string) string {
	o, n := set(old), set(new)
	var parts []string
	for _, s := range new {
		if !o[s] {
			parts = append(parts, "+"+s)
		}
	}
	for _, s := range old {
		if !n[s] {
			parts = append(parts, "-"+s)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return field + " " + strings.Join(parts, " ")
}

// stateNote says what happens to the state directory of an app that
// exists on at least one side; "" when neither side has state.
func stateNote(oa, na *AppState, tenant string) string {
	var o, n string
	if oa != nil {
		o = oa.StateDir
	}
	if na != nil {
		n = na.StateDir
	}
	purge := fmt.Sprintf("'ehecoatl purge %s' deletes it", tenant)
	switch {
	case o == "" && n == "":
		return ""
	case na == nil:
		return fmt.Sprintf("kept in %s (%s)", o, purge)
	case o == n && len(na.Sockets) > 1:
		return fmt.Sprintf("kept in %s, shared by its %d workers", n, len(na.Sockets))
	case o == n:
		return "kept in " + n
	case n == "":
		return fmt.Sprintf("%s is kept but no longer mounted (%s)", o, purge)
	case o == "":
		return "in " + n
	}
	return fmt.Sprintf("in %s; %s is kept but no longer mounted", n, o)
}
