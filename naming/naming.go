// Package naming is the host contract: the names Ehecoatl gives units,
// sockets, files and directories on a host, the inverse that finds a unit's
// owner again, and the host paths that every binary must agree on
// (docs/DESIGN.md "Names and paths"). The translator writes units under
// these names, apply installs files at these paths, the router connects to
// these sockets, and status and the CLI ask systemd about these units; they
// all compute them here, so they cannot drift apart.
//
// It imports nothing of the project and takes plain strings, so that any
// binary can link it (the router links no translator) and any package can
// import it, package manifest included.
package naming

import (
	"path"
	"sort"
	"strconv"
	"strings"
)

// Host paths as systemd sees them. Units always name these, and a test
// root (package layout) is only ever prepended to them.
const (
	// ManifestDir is where `ehecoatl apply` installs the manifests and the
	// env files, and where the router and the boot-time generator read them.
	ManifestDir = "/etc/ehecoatl"
	// SecretsDir holds the secrets, one root-only directory per tenant.
	SecretsDir = ManifestDir + "/secrets"
	// CertsDir holds the operators' certificates and keys, one directory
	// per tenant, readable by root and the router only (tls: {cert, key}).
	CertsDir = ManifestDir + "/certs"
	// StateDir is Ehecoatl's own bookkeeping: apply's record and lock.
	StateDir = "/var/lib/ehecoatl"
	// StopsFile records the operator's stops (`ehecoatl stop`), which
	// apply, the boot-time generator and the router respect until
	// `ehecoatl start`.
	StopsFile = StateDir + "/stopped.json"
	// RunDir holds the app sockets, one directory per tenant.
	RunDir = "/run/ehecoatl"
	// DrainFile lists the worker sockets (relative to RunDir) that a
	// rollout is restarting: the router, which reads it at every load,
	// sends them no new request (docs/OPERATIONS.md "Deploys"). The dot
	// keeps it apart from the tenants' directories.
	DrainFile = RunDir + "/.draining"
	// GeneratorDir is the normal output directory systemd passes to
	// generators.
	GeneratorDir = "/run/systemd/generator"
	// PrivateStateDir is where systemd keeps DynamicUser state directories.
	PrivateStateDir = "/var/lib/private"
	// StateLinkDir is where systemd keeps their compatibility symlinks.
	StateLinkDir = "/var/lib"
	// Bin is the ehecoatl binary that bridge services run.
	Bin = "/usr/bin/ehecoatl"
	// ExecBin is the launcher (cmd/ehecoatl-exec) that the app services
	// of the previous release run: it execs the command it reads from the
	// env file's EHECOATL_ARGV_* variables. The package keeps it for units
	// loaded before an upgrade's daemon-reload; the generator no longer
	// writes it (docs/DESIGN.md "The app's command").
	ExecBin = "/usr/lib/ehecoatl/ehecoatl-exec"
	// ArgsVar is the env-file variable that holds an app's arguments
	// (argv[1:], units.EnvArgs): its unit runs "ExecStart=PROGRAM
	// $EHECOATL_ARGS", so a changed argument needs no daemon-reload.
	ArgsVar = "EHECOATL_ARGS"
	// GeneratorBin is the systemd generator that renders the installed
	// manifests into units at boot and at every daemon-reload.
	GeneratorBin = "/usr/lib/systemd/system-generators/ehecoatl-generator"
	// SandboxRoot is the RootDirectory= of every app and bridge
	// (templates/hardening.conf): empty mount points made by tmpfiles.d.
	SandboxRoot = "/run/ehecoatl-root"
)

// Names shared by all tenants.
const (
	// RootSlice is the slice every tenant slice nests under.
	RootSlice = "ehecoatl.slice"
	// RootTarget wants every app socket; sockets.target wants it.
	RootTarget = "ehecoatl.target"
	// SocketsWants is the directory of the wants links that start app
	// sockets (generated units cannot be enabled).
	SocketsWants = RootTarget + ".wants"
	// FirewallUnit loads the host-network rules of apps with an egress
	// list (packaging/nftables/ehecoatl.nft); such apps require it.
	FirewallUnit = "ehecoatl-firewall.service"
	// RouterUnit is the router's service, reloaded when routes change.
	RouterUnit = "ehecoatl-router.service"
	// RouterSocket listens on :80 for the router.
	RouterSocket = "ehecoatl-router.socket"
	// RouterMetricsSocket is the router's metrics listener, written by
	// the boot-time generator from EHECOATL_METRICS_LISTEN
	// (docs/METRICS.md).
	RouterMetricsSocket = "ehecoatl-router-metrics.socket"
	// RouterReloads is where the router counts its table loads, "<n> ok"
	// or "<n> failed: <error>" ($RUNTIME_DIRECTORY of RouterUnit; its
	// ExecReload= waits on it, and status reads it).
	RouterReloads = "/run/ehecoatl-router/reloads"
	// RouterDrained is where the router lists the drained sockets of
	// DrainFile with no request left in flight; a rollout restarts a
	// worker once it is listed.
	RouterDrained = "/run/ehecoatl-router/drained"
	// RouterGroup is the group that may connect to app sockets: the
	// router's static system user (sysusers.d).
	RouterGroup = "ehecoatl-router"
)

// Tenant and app names match ^[a-z][a-z0-9_]{0,30}$ (docs/MANIFEST.md
// "Names"), so they need no escaping in unit names, and "-" separates the
// parts unambiguously: that is what makes Owner possible.
const (
	stem      = "ehecoatl"
	bridgeTag = "-bridge"
)

// TenantSlice returns the slice of a tenant: "ehecoatl-acme.slice". The "-"
// makes systemd nest it under RootSlice.
func TenantSlice(tenant string) string { return stem + "-" + tenant + ".slice" }

// StatePrefix is what every state directory of a tenant's apps starts
// with, "ehecoatl-acme-"; no other tenant's starts with it.
func StatePrefix(tenant string) string { return stem + "-" + tenant + "-" }

// EnvFileRel is where an app's env lives relative to ManifestDir:
// "env/acme/web.env". `ehecoatl apply` writes it (root only) into the same
// generation as the manifests; the service reads it with
// EnvironmentFile=, so an env change needs a restart but no daemon-reload,
// and the values are in no world-readable unit file.
func EnvFileRel(tenant, app string) string { return path.Join("env", tenant, app+".env") }

// App is what an app's names depend on.
type App struct {
	Tenant, Name string
	// Workers > 1 makes the units templates with instances 1..Workers.
	Workers int
	// Bridge is set for port: apps, whose socket activates a bridge.
	Bridge bool
	// Next is set for an app of one worker that rolls (deploy: rolling):
	// it gets a second slot, a socket and service (and for port: apps a
	// bridge) that only a rollout starts, so that the new version is started and
	// checked before the old one stops (docs/OPERATIONS.md "Deploys").
	Next bool
}

// nextTag names the second slot of an app of one worker. App names cannot
// contain "-", so "ehecoatl-acme-web-next" is no other app's unit.
const nextTag = "-next"

// HasNext reports whether the app has a second slot (Next, and one worker).
func (a App) HasNext() bool { return a.Next && !a.Templated() }

// NextSocket is the second slot's socket, "ehecoatl-acme-web-next.socket";
// "" for an app without one.
func (a App) NextSocket() string {
	if !a.HasNext() {
		return ""
	}
	return a.Stem() + nextTag + ".socket"
}

// NextService is the second slot's service, "ehecoatl-acme-web-next.service";
// "" for an app without one.
func (a App) NextService() string {
	if !a.HasNext() {
		return ""
	}
	return a.Stem() + nextTag + ".service"
}

// NextBridgeService is the second slot's bridge of a port: app,
// "ehecoatl-acme-web-next-bridge.service"; "" for an app without a second
// slot or without a bridge. Owner still reads it as app "web": the tags
// after the app's name are what app names cannot contain.
func (a App) NextBridgeService() string {
	if !a.HasNext() || !a.Bridge {
		return ""
	}
	return a.Stem() + nextTag + bridgeTag + ".service"
}

// NextSocketPath is the second slot's listening socket below runDir (""
// means RunDir): /run/ehecoatl/acme/web-next.sock; "" for an app without
// one.
func (a App) NextSocketPath(runDir string) string {
	if !a.HasNext() {
		return ""
	}
	if runDir == "" {
		runDir = RunDir
	}
	return path.Join(runDir, a.Tenant, a.Name+nextTag+".sock")
}

// Templated reports whether the app is rendered as template units (@.socket,
// @.service) with instances 1..Workers.
func (a App) Templated() bool { return a.Workers > 1 }

// Stem is the common start of the app's unit names: "ehecoatl-acme-web".
func (a App) Stem() string { return stem + "-" + a.Tenant + "-" + a.Name }

func (a App) unit(tag, suffix string) string {
	n := a.Stem() + tag
	if a.Templated() {
		n += "@"
	}
	return n + suffix
}

// Socket is the app's socket unit, or its template for workers
// ("ehecoatl-acme-web@.socket").
func (a App) Socket() string { return a.unit("", ".socket") }

// Service is the app's service unit, or its template for workers.
func (a App) Service() string { return a.unit("", ".service") }

// BridgeService is the bridge of a port: app, or its template for
// workers; "" for other apps.
func (a App) BridgeService() string {
	if !a.Bridge {
		return ""
	}
	return a.unit(bridgeTag, ".service")
}

// StateDirectory is the app's StateDirectory= name, "ehecoatl-acme-web",
// one for all its workers: the data stays in the app's view when workers
// changes (docs/MANIFEST.md "state"). Workers share it safely because
// systemd derives a DynamicUser= name from the unit name's prefix, so
// every instance of ehecoatl-acme-web@.service, and the single
// ehecoatl-acme-web.service, runs as the same user.
func (a App) StateDirectory() string { return a.Stem() }

// WorkerStatePrefix is how the per-worker state directories of an older
// Ehecoatl start ("ehecoatl-acme-web-" + N). They are no longer mounted,
// and kept (docs/OPERATIONS.md "State"); app names cannot contain "-", so
// no other app's directory starts with it.
func (a App) WorkerStatePrefix() string { return a.Stem() + "-" }

// SocketPath is the listening socket below runDir ("" means RunDir):
// /run/ehecoatl/acme/web.sock, or web@N.sock for worker N (worker "%i" in
// a template).
func (a App) SocketPath(runDir, worker string) string {
	if runDir == "" {
		runDir = RunDir
	}
	file := a.Name
	if worker != "" {
		file += "@" + worker
	}
	return path.Join(runDir, a.Tenant, file+".sock")
}

// Instance returns the name of worker i of a template unit name
// ("ehecoatl-acme-web@.socket", 2 -> "ehecoatl-acme-web@2.socket").
func Instance(template string, i int) string {
	at := strings.IndexByte(template, '@')
	if at < 0 {
		at = len(template)
	}
	return template[:at+1] + strconv.Itoa(i) + template[at+1:]
}

// Units lists what one app owns on the host.
type Units struct {
	// Files are the unit files generated for the app (templates for
	// workers), sorted.
	Files []string
	// Sockets are the socket units to start: the socket, or every worker
	// instance ("ehecoatl-acme-web@1.socket" ...).
	Sockets []string
	// Services are the service units that run: the app service and, for
	// port apps, its bridge after it; per instance for workers, in
	// instance order (1..N).
	Services []string
	// SocketPaths are the listening socket files the router connects to,
	// in instance order.
	SocketPaths []string
	// Next is the second slot of an app of one worker (App.HasNext):
	// socket, service, bridge (port: apps) and socket path, which only a rollout starts; none
	// of them is in Sockets, Services or SocketPaths (its files are in
	// Files). Zero for other apps.
	Next Slot
}

// Slot is the second slot of an app of one worker.
type Slot struct {
	Socket, Service, SocketPath string
	// Bridge is the slot's bridge service of a port: app, "" otherwise.
	// The slot's socket activates it and it starts Service (BindsTo=),
	// as the app's own bridge does.
	Bridge string
}

// Start is what a rollout starts for the slot: its socket, and the unit
// that brings the app up, the bridge of a port: app (its service has
// StopWhenUnneeded=, so started alone it would be stopped again).
func (s Slot) Start() []string {
	if s.Bridge != "" {
		return []string{s.Socket, s.Bridge}
	}
	return []string{s.Socket, s.Service}
}

// Services are the slot's services: the app's, and the bridge of a port:
// app.
func (s Slot) Services() []string {
	if s.Bridge != "" {
		return []string{s.Service, s.Bridge}
	}
	return []string{s.Service}
}

// Stop is every unit of the slot, services before the socket, for a stop
// job that leaves nothing of it running.
func (s Slot) Stop() []string { return append(s.Services(), s.Socket) }

// Units returns the units an app owns, with socket paths below runDir (""
// means RunDir).
func (a App) Units(runDir string) Units {
	var n Units
	sock, svc, bridge := a.Socket(), a.Service(), a.BridgeService()
	n.Files = []string{sock, svc}
	if bridge != "" {
		n.Files = append(n.Files, bridge)
	}
	if a.HasNext() {
		n.Next = Slot{Socket: a.NextSocket(), Service: a.NextService(), SocketPath: a.NextSocketPath(runDir),
			Bridge: a.NextBridgeService()}
		n.Files = append(n.Files, n.Next.Socket, n.Next.Service)
		if n.Next.Bridge != "" {
			n.Files = append(n.Files, n.Next.Bridge)
		}
	}
	sort.Strings(n.Files)
	if !a.Templated() {
		n.Sockets = []string{sock}
		n.Services = []string{svc}
		if bridge != "" {
			n.Services = append(n.Services, bridge)
		}
		n.SocketPaths = []string{a.SocketPath(runDir, "")}
		return n
	}
	for i := 1; i <= a.Workers; i++ {
		n.Sockets = append(n.Sockets, Instance(sock, i))
		n.Services = append(n.Services, Instance(svc, i))
		if bridge != "" {
			n.Services = append(n.Services, Instance(bridge, i))
		}
		n.SocketPaths = append(n.SocketPaths, a.SocketPath(runDir, strconv.Itoa(i)))
	}
	return n
}

// Owner splits a unit name made by this package into its tenant, app and
// worker: "ehecoatl[-tenant[-app[-bridge]]][@worker].suffix". tenant is ""
// for the units all tenants share, app "" for a tenant's own, worker ""
// outside worker instances (a template has none).
func Owner(unit string) (tenant, app, worker string) {
	s := unit
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		s = s[:i]
	}
	if i := strings.IndexByte(s, '@'); i >= 0 {
		s, worker = s[:i], s[i+1:]
	}
	parts := strings.Split(s, "-")
	if len(parts) >= 2 {
		tenant = parts[1]
	}
	if len(parts) >= 3 {
		app = parts[2]
	}
	return tenant, app, worker
}

// ControlGroup is the cgroup systemd gives a unit of tenant, relative to
// the cgroup file system's root (systemd's ControlGroup property):
// "/ehecoatl.slice/ehecoatl-acme.slice/ehecoatl-acme-web.service" for a
// service of the tenant's slice (Slice=TenantSlice), and
// "/ehecoatl.slice/ehecoatl-acme.slice" for the slice itself. systemd
// nests a slice under the slice its name's prefix names, and places a
// unit in the directory of its slice; tenant and unit names need no
// escaping there (no "\x" sequences, no names of the cgroup file system's
// own files).
func ControlGroup(tenant, unit string) string {
	dir := "/" + RootSlice + "/" + TenantSlice(tenant)
	if unit == TenantSlice(tenant) {
		return dir
	}
	return dir + "/" + unit
}
