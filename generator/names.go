package generator

import (
	"path"
	"sort"
	"strconv"

	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/units"
)

// Unit names and paths (docs/DESIGN.md "Names and paths"). Tenant and app
// names match ^[a-z][a-z0-9_]{0,30}$, so they need no escaping in unit
// names, and "-" separates the parts unambiguously.

// RootSlice is the slice every tenant slice nests under.
const RootSlice = "ehecoatl.slice"

// FirewallUnit loads the host-network rules of apps with an egress list
// (packaging/nftables/ehecoatl.nft); such apps require it.
const FirewallUnit = "ehecoatl-firewall.service"

// RootTarget wants every app socket; sockets.target wants it.
const RootTarget = "ehecoatl.target"

// SocketsWants is the directory of the wants links that start app sockets
// (generated units cannot be enabled).
const SocketsWants = RootTarget + ".wants"

// TenantSlice returns the slice of a tenant: "ehecoatl-acme.slice".
func TenantSlice(tenant string) string { return "ehecoatl-" + tenant + ".slice" }

// prefix is the common stem of an app's units: "ehecoatl-acme-web".
func prefix(a *manifest.App) string { return "ehecoatl-" + a.Tenant + "-" + a.Name }

// templated reports whether an app is rendered as template units (@.socket,
// @.service) with instances 1..Workers.
func templated(a *manifest.App) bool { return a.Workers > 1 }

// unitName returns the unit (or template, for workers) name of one kind of
// an app's units: kind "" for the app itself, "-bridge" for the bridge;
// suffix ".socket" or ".service".
func unitName(a *manifest.App, kind, suffix string) string {
	n := prefix(a) + kind
	if templated(a) {
		n += "@"
	}
	return n + suffix
}

// instanceName returns the name of instance i of a template unit name
// ("ehecoatl-acme-web@.socket", 2 -> "ehecoatl-acme-web@2.socket").
func instanceName(template string, i int) string {
	at := len(template)
	for j := 0; j < len(template); j++ {
		if template[j] == '@' {
			at = j
			break
		}
	}
	return template[:at+1] + strconv.Itoa(i) + template[at+1:]
}

// AppUnitNames lists what one app owns on the host.
type AppUnitNames struct {
	// Files are the unit files generated for the app (templates for
	// workers), sorted.
	Files []string
	// Sockets are the socket units to start: the socket, or every worker
	// instance ("ehecoatl-acme-web@1.socket" ...).
	Sockets []string
	// Services are the service units that run: the app service and, for
	// port apps, its bridge after it; per instance for workers, in instance
	// order (1..N).
	Services []string
	// SocketPaths are the listening socket files the router connects to,
	// in instance order.
	SocketPaths []string
}

// AppUnits returns the units an app owns, with the default Options.
func AppUnits(a *manifest.App) AppUnitNames { return Options{}.AppUnits(a) }

// AppUnits returns the units an app owns (socket paths under o.RunDir).
func (o Options) AppUnits(a *manifest.App) AppUnitNames {
	o = o.withDefaults("")
	var n AppUnitNames
	sock := unitName(a, "", ".socket")
	svc := unitName(a, "", ".service")
	bridge := ""
	n.Files = []string{sock, svc}
	if a.Listen == manifest.ListenPort {
		bridge = unitName(a, "-bridge", ".service")
		n.Files = append(n.Files, bridge)
	}
	if !templated(a) {
		n.Sockets = []string{sock}
		n.Services = []string{svc}
		if bridge != "" {
			n.Services = append(n.Services, bridge)
		}
		n.SocketPaths = []string{socketPath(o, a, "")}
	} else {
		for i := 1; i <= a.Workers; i++ {
			n.Sockets = append(n.Sockets, instanceName(sock, i))
			n.Services = append(n.Services, instanceName(svc, i))
			if bridge != "" {
				n.Services = append(n.Services, instanceName(bridge, i))
			}
			n.SocketPaths = append(n.SocketPaths, socketPath(o, a, strconv.Itoa(i)))
		}
	}
	sort.Strings(n.Files)
	return n
}

// socketPath is /run/ehecoatl/acme/web.sock, or web@N.sock for instance N
// (instance "%i" in a template).
func socketPath(o Options, a *manifest.App, instance string) string {
	file := a.Name
	if instance != "" {
		file += "@" + instance
	}
	return path.Join(o.RunDir, a.Tenant, file+".sock")
}

// EnvFileRel is where an app's env lives relative to the installed
// manifest directory: "env/acme/web.env". `ehecoatl apply` writes it (root
// only) into the same generation as the manifests; the service reads it
// with EnvironmentFile=, so an env change needs a restart but no
// daemon-reload, and the values are in no world-readable unit file.
func EnvFileRel(a *manifest.App) string { return path.Join("env", a.Tenant, a.Name+".env") }

// EnvFile renders an app's env for EnvironmentFile=; nil when it has none.
func EnvFile(a *manifest.App) ([]byte, error) {
	if len(a.Env) == 0 {
		return nil, nil
	}
	return units.EnvFile(a.Env)
}
