// Package manifest loads and validates an Ehecoatl manifest directory
// (tenants/*.yaml and kits/*.yaml, docs/MANIFEST.md) into a Set that the generator,
// the planner and the router consume. Loading never stops at the first
// problem: it returns a Report with every finding, each with file:line:col,
// the YAML path and a hint.
package manifest

import (
	"net/netip"
	"time"

	"github.com/ehecoatl/ehecoatl/naming"
)

// Set is a fully validated manifest directory. Everything in it is
// normalised (domains lower-cased, kits merged, defaults filled in), so
// consumers never re-validate and never see a kit reference.
type Set struct {
	// Dir is the directory the set was loaded from.
	Dir string
	// Tenants, sorted by name.
	Tenants []*Tenant
	// Kits, sorted by name. Kept for planning and for installing the
	// directory as-is; apps already carry the merged values.
	Kits []*Kit
	// Routes is the routing table derived from every app's domains and
	// path, sorted by (domain, path). One owner per (domain, path).
	Routes []Route
}

// Tenant is one tenants/<name>.yaml file.
type Tenant struct {
	// Name of the tenant; equals the file name without .yaml.
	Name string
	// File is the manifest's path relative to Set.Dir ("tenants/acme.yaml").
	File string
	// Source is the file's content as it was validated: what apply
	// installs and plans from (the file may have changed on disk since).
	Source []byte `json:"-"`
	// Limits become the tenant slice's resource controls.
	Limits Limits
	// Suspended: the tenant's units are installed but none listens, and
	// the router answers its domains with 503 (docs/MANIFEST.md "Tenant
	// file"); `ehecoatl start` refuses it.
	Suspended bool `json:",omitempty"`
	// Apps, sorted by name.
	Apps []*App
}

// Limits are the resource controls of a tenant's slice. A zero value means
// "not set" (systemd's default applies).
type Limits struct {
	// CPUQuotaPercent is CPUQuota= in percent of one CPU (150 = 1.5 CPUs).
	CPUQuotaPercent int
	// MemoryMax is MemoryMax= in bytes. MemoryHigh= is 90% of it.
	MemoryMax int64
	// Tasks is TasksMax=.
	Tasks int
	// IOWeight is IOWeight= (1..10000).
	IOWeight int
}

// Kit is one kits/<name>.yaml file: app fields shared by many tenants.
type Kit struct {
	// Name of the kit; equals the file name without .yaml.
	Name string
	// File is the kit's path relative to Set.Dir ("kits/shop.yaml").
	File string
	// Source is the file's content as it was validated: what apply
	// installs (the file may have changed on disk since).
	Source []byte `json:"-"`
}

// Listen modes of an app.
const (
	// ListenActivation: the app receives the listening socket from systemd
	// (LISTEN_FDS, sd_listen_fds(3)).
	ListenActivation = "activation"
	// ListenPort: a plain app that binds 127.0.0.1:Port itself; a bridge
	// carries the activated socket to it.
	ListenPort = "port"
)

// App is one entry of a tenant's apps map after kit merging and defaults.
type App struct {
	// Tenant is the owning tenant's name.
	Tenant string
	// Name of the app, unique within its tenant.
	Name string
	// File is the tenant manifest that declares the app.
	File string
	// Kit the app started from, "" when none.
	Kit string
	// Command is the argv executed, Command[0] an absolute path. No shell.
	Command []string
	// Listen is ListenActivation or ListenPort.
	Listen string
	// Port is the 127.0.0.1 port of a ListenPort app (1024..65535), 0
	// otherwise.
	Port int
	// Domains the app serves, normalised (lower case, no port, no trailing
	// dot), in manifest order. "*.x" is a wildcard for subdomains of x.
	Domains []string
	// Path is the URL path prefix on those domains; "/" by default.
	Path string
	// Env is passed as Environment=. Keys match [A-Za-z_][A-Za-z0-9_]*;
	// values hold no control characters (but may hold "%" and "$", which
	// the unit writer escapes). nil when empty.
	Env map[string]string
	// Secrets are file names under /etc/ehecoatl/secrets/<tenant>/ (no "/",
	// no "..", not starting with "." or "-"), passed
	// with LoadCredential= and readable in $CREDENTIALS_DIRECTORY.
	Secrets []string
	// secretsAt is where each of Secrets was written (the tenant file or
	// the kit), for CheckSecretFiles.
	secretsAt []pos
	// State gives the app a persistent private directory ($STATE_DIRECTORY).
	State bool
	// ReadOnly are absolute, clean host paths the app may read, below one
	// of the sandbox's top-level directories and never inside (or above)
	// another tenant's data; checked as written and as resolved on the host.
	ReadOnly []string
	// Connect are unix sockets of host services (PostgreSQL's, say) bound
	// into the app's sandbox; nothing else of /run is visible there.
	Connect []string
	// Egress: nil means none (PrivateNetwork=yes); otherwise the prefixes
	// the app may reach (IPAddressAllow=, with IPAddressDeny=any).
	Egress []netip.Prefix
	// Workers is the number of isolated instances behind the route (>=1).
	Workers int
	// IdleTimeout stops the app after this long without traffic; 0 never.
	IdleTimeout time.Duration
	// Memory is the app's MemoryMax= in bytes; 0 means only the tenant's.
	Memory int64
	// Restart is systemd's Restart= value; "on-failure" by default.
	Restart string
	// Watchdog is systemd's WatchdogSec= (with Type=notify): the app
	// sends READY=1 and then WATCHDOG=1 at least this often, or systemd
	// restarts it; 0 when unset.
	Watchdog time.Duration
	// Health is an optional HTTP path the router probes on running
	// instances (docs/OPERATIONS.md "Health checks"); "" when unset.
	Health string
	// Drain is how long a rollout waits for a worker's requests to end
	// before restarting it; DefaultDrain unless set (0: no wait).
	Drain time.Duration
	// Deploy is DeployRolling (the default) or DeployStopStart.
	Deploy string
	// TLS is how the router serves the app's domains over HTTPS.
	TLS TLS
	// HSTS makes the router send Strict-Transport-Security on the app's
	// HTTPS responses.
	HSTS bool
}

// TLS is an app's certificate source (docs/MANIFEST.md "HTTPS").
type TLS struct {
	// Mode is TLSAuto (the default), TLSOff or TLSFiles.
	Mode string
	// CertFile and KeyFile name PEM files in /etc/ehecoatl/certs/<tenant>/
	// (TLSFiles only): a certificate chain and its private key.
	CertFile, KeyFile string
}

// The modes of TLS.
const (
	// TLSAuto: certificates issued over ACME for the app's exact, public
	// domains; wildcard and reserved names (.test, .localhost, ...) get
	// none and are served over plain HTTP.
	TLSAuto = "auto"
	// TLSOff: plain HTTP only.
	TLSOff = "off"
	// TLSFiles: the operator's certificate, for every domain it covers.
	TLSFiles = "files"
)

// Names are the names of the app's units and paths, computed by package
// naming: the one conversion every package that names an app's units uses.
func (a *App) Names() naming.App {
	return naming.App{Tenant: a.Tenant, Name: a.Name, Workers: a.Workers, Bridge: a.Listen == ListenPort,
		Next: a.Deploy != DeployStopStart}
}

// Route is one (domain, path) -> (tenant, app) entry of the routing table.
type Route struct {
	// Domain is normalised; "*.example.com" for a wildcard.
	Domain string
	// Path prefix, "/" at least.
	Path string
	// Tenant and App own the route; one tenant owns all routes of a
	// domain (see the ownership rules in load.go).
	Tenant string
	App    string
	// File that declared the route, for error messages.
	File string
}
