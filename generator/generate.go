// Package generator translates a validated manifest.Set into systemd units
// (docs/DESIGN.md, docs/MANIFEST.md "What an app sees"): the slices of the
// tenants, and per app a socket, a sandboxed service and, for port: apps,
// a bridge service; plus
// the sockets.target.wants links that start the sockets. The same
// translation serves `ehecoatl generate|plan|apply`, the systemd generator
// (package bootgen) and the tests, so their outputs are byte-identical.
// The names of what it writes are package naming's.
//
// All unit syntax is written by package units; the fixed options (the
// hardening profile, start limits, socket options) come from package
// templates.
package generator

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ehecoatl/ehecoatl/appexec"
	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/naming"
	"github.com/ehecoatl/ehecoatl/rendered"
	"github.com/ehecoatl/ehecoatl/templates"
	"github.com/ehecoatl/ehecoatl/units"
)

// Options are the host-specific inputs of the translation. The zero value
// means "the defaults of an installed host" (package naming's paths),
// except for SourceDir: see ForHost.
type Options struct {
	// Bin is the ehecoatl binary used by bridge services; default
	// naming.Bin.
	Bin string
	// SecretsDir holds the secrets, one directory per tenant; default
	// naming.SecretsDir.
	SecretsDir string
	// RunDir holds the app sockets, one directory per tenant; default
	// naming.RunDir. Apps cannot see it (their /run is their own), nor
	// SecretsDir and the installed manifests (naming.ManifestDir; see
	// hideInOS and templates/hardening.conf).
	RunDir string
	// CommandInUnit renders the app's whole command into ExecStart=
	// instead of the program and $EHECOATL_ARGS, and EnvironmentFile= only
	// for apps with env: the units an installed generation of an older
	// Ehecoatl works with, whose env files hold no EHECOATL_ARGS (none,
	// or the launcher's EHECOATL_ARGV_*). The boot-time generator sets it
	// for such a generation until the next apply installs new env files
	// (bootgen.LegacyEnv); apply never does.
	CommandInUnit bool
	// SourceDir is written into SourcePath= (the manifests' directory as
	// installed, e.g. "/etc/ehecoatl"); default: the set's Dir made
	// absolute, or naming.ManifestDir when the set has no Dir.
	SourceDir string
}

// ForHost returns the options with SourceDir defaulting to where apply
// installs the manifests rather than to the rendered set's own directory.
// apply, plan and the boot-time generator all render with it: the digest
// apply compares is only equal to the generator's if their options are.
func (o Options) ForHost() Options {
	if o.SourceDir == "" {
		o.SourceDir = naming.ManifestDir
	}
	return o
}

// withDefaults fills in the defaults; setDir is the Set.Dir of the set
// being rendered ("" when unknown).
func (o Options) withDefaults(setDir string) Options {
	if o.Bin == "" {
		o.Bin = naming.Bin
	}
	if o.SecretsDir == "" {
		o.SecretsDir = naming.SecretsDir
	}
	if o.RunDir == "" {
		o.RunDir = naming.RunDir
	}
	if o.SourceDir == "" {
		o.SourceDir = naming.ManifestDir
		if setDir != "" {
			if abs, err := filepath.Abs(setDir); err == nil {
				o.SourceDir = abs
			}
		}
	}
	return o
}

// check rejects option values that cannot be written safely: the run
// directory is also used inside specifier values (worker sockets), where a
// "%" would be a specifier, and in space-separated lists.
func (o Options) check() error {
	for _, p := range []struct{ name, v string }{
		{"Bin", o.Bin}, {"SecretsDir", o.SecretsDir}, {"RunDir", o.RunDir}, {"SourceDir", o.SourceDir},
	} {
		if !path.IsAbs(p.v) {
			return fmt.Errorf("generator: option %s %q: must be an absolute path", p.name, p.v)
		}
	}
	if !safePath(o.RunDir) {
		return fmt.Errorf("generator: option RunDir %q: only letters, digits and /._- are allowed", o.RunDir)
	}
	return nil
}

// The output types are package rendered's, so that plan and apply can
// work from a rendering without importing the translator.
type (
	Output = rendered.Output
	File   = rendered.File
	Link   = rendered.Link
)

// Generate renders every tenant of a validated set, plus the root slice.
// The output depends only on the set and the options: it is
// deterministic and stable.
func Generate(set *manifest.Set, opts Options) (*Output, error) {
	opts = opts.withDefaults(set.Dir)
	r, err := newRenderer(opts)
	if err != nil {
		return nil, err
	}
	out, err := r.root()
	if err != nil {
		return nil, err
	}
	parts, err := r.tenants(set.Tenants)
	if err != nil {
		return nil, err
	}
	out.Merge(parts...)
	return out, nil
}

// parallelMin is how many tenants make rendering them on every CPU worth
// the goroutines: apply renders 1,000 tenants at every run, a no-op
// included.
const parallelMin = 64

// tenants renders each tenant into its own output, on every CPU for many,
// and returns them in the set's order; the error is the first tenant's,
// in that order, so the result does not depend on scheduling. The
// renderer is only read (units.Unit.Merge copies from its fragments).
func (r *renderer) tenants(ts []*manifest.Tenant) ([]*Output, error) {
	outs := make([]*Output, len(ts))
	errs := make([]error, len(ts))
	one := func(i int) {
		outs[i] = &Output{}
		errs[i] = r.tenant(outs[i], ts[i])
	}
	if n := runtime.GOMAXPROCS(0); n > 1 && len(ts) >= parallelMin {
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < n; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1) - 1); i < len(ts); i = int(next.Add(1) - 1) {
					one(i)
				}
			}()
		}
		wg.Wait()
	} else {
		for i := range ts {
			one(i)
		}
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return outs, nil
}

// RenderTenant renders the units of one tenant (its slice and apps),
// without the root slice ehecoatl.slice. The systemd generator uses it to
// skip a tenant that cannot be rendered while rendering the others.
func RenderTenant(t *manifest.Tenant, opts Options) (*Output, error) {
	r, err := newRenderer(opts.withDefaults(""))
	if err != nil {
		return nil, err
	}
	out := &Output{}
	if err := r.tenant(out, t); err != nil {
		return nil, err
	}
	out.Sort()
	return out, nil
}

// RootFiles renders the units shared by all tenants: ehecoatl.slice and
// ehecoatl.target with its link.
func RootFiles(opts Options) (*Output, error) {
	r, err := newRenderer(opts.withDefaults(""))
	if err != nil {
		return nil, err
	}
	return r.root()
}

// root renders the shared units: the root slice, and ehecoatl.target,
// which wants every app socket. apply starts that one target instead of
// thousands of sockets one D-Bus call at a time: one job, one transaction.
// sockets.target wants it, so the sockets also come up at boot.
func (r *renderer) root() (*Output, error) {
	slice, err := r.rootSlice()
	if err != nil {
		return nil, err
	}
	u := units.New(naming.RootTarget)
	s := u.Section("Unit")
	s.Add("Description", "Ehecoatl app sockets")
	s.Add("SourcePath", path.Join(r.opts.SourceDir, "tenants"))
	target, err := file(u, naming.RootTarget)
	if err != nil {
		return nil, fmt.Errorf("generator: %w", err)
	}
	out := &Output{
		Files: []File{slice, target},
		Links: []Link{{Dir: "sockets.target.wants", Name: naming.RootTarget, Target: "../" + naming.RootTarget}},
	}
	out.Sort()
	return out, nil
}

// renderer holds the options and the parsed fragments of one run.
type renderer struct {
	opts                       Options
	hardening, service, socket *units.Unit
}

func newRenderer(opts Options) (*renderer, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	r := &renderer{opts: opts}
	for _, f := range []struct {
		dst  **units.Unit
		name string
	}{{&r.hardening, templates.Hardening}, {&r.service, templates.Service}, {&r.socket, templates.Socket}} {
		u, err := templates.Shared(f.name)
		if err != nil {
			return nil, fmt.Errorf("generator: %w", err)
		}
		*f.dst = u
	}
	return r, nil
}

// file serializes a finished unit.
// A units.Error names its unit already, so it is passed on as it is:
// wrapping it with the name again said the unit twice.
func file(u *units.Unit, name string) (File, error) {
	b, err := u.Bytes()
	if err != nil {
		return File{}, err
	}
	return File{Name: name, Data: b}, nil
}

// rootSlice renders ehecoatl.slice, the parent of every tenant slice.
func (r *renderer) rootSlice() (File, error) {
	u := units.New(naming.RootSlice)
	s := u.Section("Unit")
	s.Add("Description", "Ehecoatl tenants")
	s.Add("SourcePath", path.Join(r.opts.SourceDir, "tenants"))
	f, err := file(u, naming.RootSlice)
	if err != nil {
		return File{}, fmt.Errorf("generator: %w", err)
	}
	return f, nil
}

// tenant renders a tenant's slice and apps into out. The set was
// validated (package manifest holds every rule, docs/MANIFEST.md), so
// whatever cannot be rendered here is a bug: an InvariantError.
func (r *renderer) tenant(out *Output, t *manifest.Tenant) error {
	src := path.Join(r.opts.SourceDir, filepath.ToSlash(t.File))
	if err := r.tenantSlice(out, t, src); err != nil {
		return &InvariantError{File: t.File, Err: err}
	}
	for _, a := range t.Apps {
		if err := r.app(out, a, src, t.Suspended); err != nil {
			return &InvariantError{File: t.File, App: a.Name, Err: err}
		}
	}
	return nil
}

func (r *renderer) tenantSlice(out *Output, t *manifest.Tenant, src string) error {
	name := naming.TenantSlice(t.Name)
	u := units.New(name)
	s := u.Section("Unit")
	s.Add("Description", "Ehecoatl tenant "+t.Name)
	s.Add("SourcePath", src)
	if l := t.Limits; l != (manifest.Limits{}) {
		s := u.Section("Slice")
		if l.CPUQuotaPercent > 0 {
			s.AddPercent("CPUQuota", l.CPUQuotaPercent)
		}
		if l.MemoryMax > 0 {
			s.Add("MemoryMax", strconv.FormatInt(l.MemoryMax, 10))
			// MemoryHigh is 90% of MemoryMax (docs/MANIFEST.md "Tenant
			// file"), so the kernel reclaims and throttles before the OOM
			// killer acts.
			s.Add("MemoryHigh", strconv.FormatInt(l.MemoryMax/10*9+l.MemoryMax%10*9/10, 10))
		}
		if l.Tasks > 0 {
			s.Add("TasksMax", strconv.Itoa(l.Tasks))
		}
		if l.IOWeight > 0 {
			s.Add("IOWeight", strconv.Itoa(l.IOWeight))
		}
	}
	f, err := file(u, name)
	if err != nil {
		return err
	}
	f.Tenant = t.Name
	out.Files = append(out.Files, f)
	return nil
}

// app renders the units of one app: socket, service and (port apps)
// bridge, as templates when the app has workers, plus the wants links,
// which a suspended tenant's apps do not get: installed, not started, at
// boot or by apply (docs/MANIFEST.md "Tenant file").
func (r *renderer) app(out *Output, a *manifest.App, src string, suspended bool) error {
	if err := invariants(a); err != nil {
		return err
	}
	// Rendered here and nowhere else: apply installs these bytes and plan
	// hashes them.
	env, err := envFile(a)
	if err != nil {
		return err
	}
	if out.Env == nil {
		out.Env = map[string][]byte{}
	}
	out.Env[naming.EnvFileRel(a.Tenant, a.Name)] = env
	n := a.Names()
	ap := appParts{
		app:    a,
		names:  n,
		src:    src,
		slice:  naming.TenantSlice(a.Tenant),
		socket: n.Socket(),
		svc:    n.Service(),
		bridge: n.BridgeService(),
	}
	ap.hostNet = hostNetwork(a)
	if err := r.appUnits(out, ap); err != nil {
		return err
	}
	if n.HasNext() {
		// The second slot: the same socket and service (and bridge, for a
		// port: app) under other names, wanted by nothing, so it listens
		// only while a rollout runs it (docs/OPERATIONS.md "Deploys"). Its
		// bridge joins its own service's network namespace, where the new
		// version binds the same port as the old one does in the app's.
		np := ap
		np.next, np.socket, np.svc, np.bridge = true, n.NextSocket(), n.NextService(), n.NextBridgeService()
		if err := r.appUnits(out, np); err != nil {
			return err
		}
	}
	un := n.Units("")
	for _, sock := range un.Sockets {
		if !suspended {
			out.Links = append(out.Links, Link{Dir: naming.SocketsWants, Name: sock, Target: "../" + ap.socket})
		}
	}
	out.Apps = append(out.Apps, rendered.App{Tenant: a.Tenant, Name: a.Name, Units: un, Suspended: suspended})
	return nil
}

// appUnits renders the socket, the service and, for a port: app, the
// bridge that p names, and adds them to out as the app's files.
func (r *renderer) appUnits(out *Output, p appParts) error {
	us := []*units.Unit{r.appSocket(p), r.appService(p)}
	if p.bridge != "" {
		us = append(us, r.bridgeService(p))
	}
	for _, u := range us {
		f, err := file(u, u.Name)
		if err != nil {
			return err
		}
		f.Tenant, f.App = p.app.Tenant, p.app.Name
		out.Files = append(out.Files, f)
	}
	return nil
}

// appParts are the names one app's units refer to. For workers, socket,
// svc and bridge are template names ("x@.socket").
type appParts struct {
	app                 *manifest.App
	names               naming.App
	src, slice          string
	socket, svc, bridge string
	hostNet             bool // egress list: the host's network namespace
	// next: the units are the second slot of an app of one worker
	// (naming.App.HasNext); socket and svc name its units.
	next bool
}

// ref returns how a unit of the app refers to another unit of the same
// app: the plain name, or for workers the same instance ("x@%i.socket").
// Specifier values must be added with AddSpecifier.
func (p appParts) ref(name string) string {
	if !p.names.Templated() {
		return name
	}
	return strings.Replace(name, "@.", "@%i.", 1)
}

// addRef adds an option naming a unit of the same app.
func (p appParts) addRef(s *units.Section, key, name string) {
	if p.names.Templated() {
		s.AddSpecifier(key, p.ref(name))
	} else {
		s.Add(key, name)
	}
}

// describe adds Description= and SourcePath=.
func (p appParts) describe(s *units.Section, what string) {
	d := "Ehecoatl " + what + " " + p.app.Tenant + "/" + p.app.Name
	if p.next {
		d += " (next slot)"
	}
	if p.names.Templated() {
		s.AddSpecifier("Description", d+" worker %i")
	} else {
		s.Add("Description", d)
	}
	s.Add("SourcePath", p.src)
}

// appSocket renders the socket the router connects to.
func (r *renderer) appSocket(p appParts) *units.Unit {
	u := units.New(p.socket)
	s := u.Section("Unit")
	p.describe(s, "socket of")
	// The run directory keeps other users away from the 0666 sockets
	// (templates/socket.conf): made by tmpfiles.d, never by the socket's
	// DirectoryMode=, which would make it traversable by everyone.
	s.Add("AssertPathIsDirectory", r.opts.RunDir)
	// Stopping the tenant's slice stops its sockets too (otherwise the
	// next request would start the tenant again), without the socket
	// being in the slice (Slice= below).
	s.Add("PartOf", p.slice)
	s = u.Section("Socket")
	if p.names.Templated() {
		s.AddSpecifier("ListenStream", p.names.SocketPath(r.opts.RunDir, "%i"))
	} else if p.next {
		s.Add("ListenStream", p.names.NextSocketPath(r.opts.RunDir))
	} else {
		s.Add("ListenStream", p.names.SocketPath(r.opts.RunDir, ""))
	}
	if p.bridge != "" {
		// The socket activates the bridge, which starts the app.
		p.addRef(s, "Service", p.bridge)
	}
	// Under the root slice, not the tenant's: a socket runs no process,
	// and one in the tenant's slice made the first apply start all 1,000
	// tenant slices, each start walking every sibling slice already
	// started (systemd 252's unit_add_family_to_cgroup_realize_queue), a
	// cost quadratic in the tenants (docs/DESIGN.md "Apply at scale"). A
	// tenant's slice starts with its first app instead.
	s.Add("Slice", naming.RootSlice)
	u.Merge(r.socket)
	return u
}

// appService renders the app's sandboxed service.
func (r *renderer) appService(p appParts) *units.Unit {
	a := p.app
	u := units.New(p.svc)
	s := u.Section("Unit")
	p.describe(s, "app")
	p.addRef(s, "Requires", p.socket)
	p.addRef(s, "After", p.socket)
	if p.hostNet {
		// Never on the host's network without the rules that keep it off
		// the host's own addresses and listeners (docs/DESIGN.md "Network").
		s.Add("Requires", naming.FirewallUnit)
		s.Add("After", naming.FirewallUnit)
	}
	if a.Listen == manifest.ListenPort {
		// Only the bridge needs the app: when the bridge exits after
		// idle_timeout (or is stopped), the app stops too.
		s.Add("StopWhenUnneeded", "yes")
	}
	u.Merge(r.service)

	s = u.Section("Service")
	s.Add("Slice", p.slice)
	if r.opts.CommandInUnit {
		s.AddExec("ExecStart", a.Command)
	} else {
		// The program here, its arguments in the env file, which systemd
		// reads and splits into words at every start: a changed argument
		// needs a restart but no daemon-reload, and no launcher costs the
		// start an exec (docs/DESIGN.md "The app's command").
		s.AddExecArgsVar("ExecStart", a.Command[0], naming.ArgsVar)
	}
	// The app learns who it serves (white-label kits run one program for
	// many tenants).
	s.AddEnv("EHECOATL_TENANT", a.Tenant)
	s.AddEnv("EHECOATL_APP", a.Name)
	if !r.opts.CommandInUnit || len(a.Env) > 0 {
		// The command and the manifest's env are in a root-only file
		// installed by apply (see naming.EnvFileRel), not in this
		// world-readable unit.
		s.Add("EnvironmentFile", path.Join(r.opts.SourceDir, naming.EnvFileRel(a.Tenant, a.Name)))
	}
	if a.Restart != "" {
		s.Add("Restart", a.Restart)
	}
	if a.Memory > 0 {
		s.Add("MemoryMax", strconv.FormatInt(a.Memory, 10))
	}
	logFields(s, a)
	for _, sec := range a.Secrets {
		s.Add("LoadCredential", sec+":"+path.Join(r.opts.SecretsDir, a.Tenant, sec))
	}
	if a.State {
		s.Add("StateDirectory", p.names.StateDirectory())
	}
	if p.next {
		// systemd names a DynamicUser= after the unit's prefix; the
		// second slot takes the app's name, so that both slots are one
		// user and share the state directory (systemd would otherwise
		// chown it to the newer one).
		s.Add("User", p.names.Stem())
	}
	r.hostView(s, a)
	if p.hostNet {
		// The host's network namespace (docs/DESIGN.md "Network"): IP
		// only, no unix sockets (they would reach every abstract socket
		// on the host; socketpair(2) still works), no listening sockets,
		// and the host itself out of reach unless the list names it.
		// The host's own addresses and listeners are ehecoatl-firewall's
		// (nftables); RestrictNetworkInterfaces= and SocketBindDeny= say
		// the same where systemd has its BPF framework (Debian 12's has
		// not, so they are not what holds there).
		allow, loopback := egressAllow(a.Egress)
		s.AddList("IPAddressAllow", prefixStrings(allow))
		if !loopback {
			s.Add("RestrictNetworkInterfaces", "~lo")
		}
		s.Add("SocketBindDeny", "any")
		s.AddList("RestrictAddressFamilies", []string{"AF_INET", "AF_INET6"})
	} else {
		s.Add("PrivateNetwork", "yes")
		if a.Listen == manifest.ListenPort {
			// It binds 127.0.0.1:PORT in its own network namespace, where
			// the bridge connects; loopback there is the app's own (the
			// namespace has no other interface), and IPAddressDeny=any
			// would drop the bridge's connection on a cgroup v2 host.
			s.Add("IPAddressAllow", "localhost")
			s.AddList("RestrictAddressFamilies", afInet6)
		} else {
			// The activated socket is inherited: no socket(2) needed but
			// AF_UNIX (local helpers, and connect: sockets).
			s.AddList("RestrictAddressFamilies", []string{"AF_UNIX"})
		}
	}
	r.hideInOS(s)
	u.Merge(r.hardening)
	if a.Watchdog > 0 {
		// The app speaks sd_notify (docs/MANIFEST.md "watchdog"): these
		// replace the template's Type=exec and the profile's
		// NotifyAccess=none, so that systemd kills and restarts it when
		// it hangs.
		s.Set("Type", "notify")
		s.Set("NotifyAccess", "main")
		s.Add("WatchdogSec", watchdogSec(a.Watchdog))
	}
	return u
}

// watchdogSec writes a duration as systemd reads it: whole seconds, else
// milliseconds.
func watchdogSec(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// hostView adds the host paths an app sees besides the OS (docs/MANIFEST.md
// "What an app sees"): its read_only paths and connect sockets, bound at
// the same path into a root that holds nothing else (templates/
// hardening.conf). A top-level directory that receives such a path is
// first covered with an empty tmpfs, so that systemd creates the mount
// points there and never in the root that every app shares; /var and
// /run always are (state, temporary and credential directories), and
// ProtectHome=tmpfs does it for /home and /root (protectHome).
func (r *renderer) hostView(s *units.Section, a *manifest.App) {
	paths := hostPaths(a)
	var tops []string
	for _, p := range paths {
		top := "/" + strings.SplitN(p[1:], "/", 2)[0]
		if slices.Contains(tmpfsTops, top) && !slices.Contains(tops, top) {
			tops = append(tops, top)
		}
	}
	sort.Strings(tops)
	for _, t := range tops {
		s.Add("TemporaryFileSystem", t+":ro")
	}
	for _, p := range paths {
		s.AddList("BindReadOnlyPaths", []string{p})
	}
	if protectHome(paths) {
		s.Add("ProtectHome", "tmpfs")
	}
}

// hostPaths are the host paths bound into an app's sandbox: its read_only
// paths and connect sockets.
func hostPaths(a *manifest.App) []string {
	return append(slices.Clone(a.ReadOnly), a.Connect...)
}

// tmpfsTops are the sandbox root's empty directories that get a tmpfs
// when a read_only or connect path lies below them (manifest limits the
// paths to these, /usr, /etc, /var, /run, /home and /root).
var tmpfsTops = []string{"/media", "/mnt", "/opt", "/srv"}

// hideInOS covers what no app may see inside the OS trees it is given:
// the secrets directory when it is not below /etc/ehecoatl (which the
// profile always covers), as it is in some test layouts. Elsewhere
// nothing of the host is visible in the first place.
func (r *renderer) hideInOS(s *units.Section) {
	sd := r.opts.SecretsDir
	if sd == naming.ManifestDir || strings.HasPrefix(sd, naming.ManifestDir+"/") {
		return
	}
	if strings.HasPrefix(sd, "/etc/") || strings.HasPrefix(sd, "/usr/") {
		s.Add("TemporaryFileSystem", sd+":ro")
	}
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// afInet6 are the address families of apps that use IP: unix sockets
// (syslog(3), local helpers) and both IP families (Go and Python probe
// IPv6 when binding).
var afInet6 = []string{"AF_UNIX", "AF_INET", "AF_INET6"}

// bridgeService renders the bridge of a port: app: it receives the
// activated socket and carries each connection to 127.0.0.1:PORT in the
// app's network namespace (docs/DESIGN.md "Port apps").
func (r *renderer) bridgeService(p appParts) *units.Unit {
	a := p.app
	u := units.New(p.bridge)
	s := u.Section("Unit")
	p.describe(s, "bridge of")
	p.addRef(s, "Requires", p.socket)
	p.addRef(s, "After", p.socket)
	// Start the app first and stop with it.
	p.addRef(s, "BindsTo", p.svc)
	p.addRef(s, "After", p.svc)
	// Same network namespace as the app: 127.0.0.1 is the app's (a port
	// app never has the host's, see invariants).
	p.addRef(s, "JoinsNamespaceOf", p.svc)
	u.Merge(r.service)

	s = u.Section("Service")
	s.Add("Slice", p.slice)
	argv := []string{r.opts.Bin, "bridge", "--to", "127.0.0.1:" + strconv.Itoa(a.Port)}
	if a.IdleTimeout > 0 {
		argv = append(argv, "--idle-timeout", a.IdleTimeout.String())
	}
	s.AddExec("ExecStart", argv)
	logFields(s, a)
	s.Add("PrivateNetwork", "yes")
	// The app's loopback, in the app's namespace (see appService).
	s.Add("IPAddressAllow", "localhost")
	// It connects to 127.0.0.1 only.
	s.AddList("RestrictAddressFamilies", []string{"AF_UNIX", "AF_INET"})
	r.hideInOS(s)
	u.Merge(r.hardening)
	return u
}

// logFields tags everything the service logs, so that
// `journalctl EHECOATL_TENANT=acme` works without the CLI.
func logFields(s *units.Section, a *manifest.App) {
	s.Add("LogExtraFields", "EHECOATL_TENANT="+a.Tenant)
	s.Add("LogExtraFields", "EHECOATL_APP="+a.Name)
}

// protectHome reports whether a read_only or connect path lies under a
// home directory: the homes then become empty read-only tmpfs instances
// (ProtectHome=tmpfs) into which the paths are bound, so that systemd
// creates their mount points there and not in the shared root. Without
// one, /home and /root are the root's own empty directories and
// ProtectHome= is not set (templates/hardening.conf says why).
func protectHome(paths []string) bool {
	for _, p := range paths {
		for _, h := range []string{"/home", "/root", "/run/user"} {
			if p == h || strings.HasPrefix(p, h+"/") {
				return true
			}
		}
	}
	return false
}

// invariants are what the units below rely on and package manifest
// guarantees for a validated set. They are checked again because a
// violation would otherwise render a wrong unit silently, not a refused
// one; a violation is a bug in validation, reported as an InvariantError.
func invariants(a *manifest.App) error {
	if len(a.Command) == 0 || !path.IsAbs(a.Command[0]) {
		return errors.New("command: argv[0] must be an absolute path")
	}
	for k := range a.Env {
		// The env file carries the arguments in ArgsVar, and the
		// launcher of the previous release read these.
		if k == naming.ArgsVar || strings.HasPrefix(k, appexec.Prefix) {
			return fmt.Errorf("env %s: the name is the command's", k)
		}
	}
	switch a.Listen {
	case manifest.ListenActivation:
	case manifest.ListenPort:
		if a.Port < 1 || a.Port > 65535 {
			return fmt.Errorf("port %d: out of range 1..65535", a.Port)
		}
		if len(a.Egress) > 0 {
			return errors.New("port with an egress list: the app would listen on the host's loopback")
		}
	default:
		return fmt.Errorf("listen %q: want %q or %q", a.Listen, manifest.ListenActivation, manifest.ListenPort)
	}
	if a.Workers < 1 {
		return fmt.Errorf("workers %d: at least 1", a.Workers)
	}
	if len(a.Connect) > 0 && len(a.Egress) > 0 {
		return errors.New("connect with an egress list: unix sockets in the host's network namespace reach every abstract socket")
	}
	for _, p := range hostPaths(a) {
		// BindReadOnlyPaths= separates source, destination and options
		// with ":" (spaces and quotes are refused by units.AddList).
		if !path.IsAbs(p) || strings.ContainsRune(p, ':') {
			return fmt.Errorf("read_only/connect %q: must be an absolute path without \":\"", p)
		}
	}
	for _, s := range a.Secrets {
		// LoadCredential=ID:PATH; the ID is a file name.
		if !safeName(s) {
			return fmt.Errorf("secrets %q: a file name of letters, digits and ._- only", s)
		}
	}
	return nil
}

// safePath reports whether p has only characters that need no quoting in
// any unit list value.
func safePath(p string) bool {
	for _, c := range []byte(p) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("/._-@+", c) >= 0) {
			return false
		}
	}
	return p != ""
}

// safeName is a file or group name: letters, digits, "._-", not "." or "..",
// not starting with "-".
func safeName(n string) bool {
	if n == "" || n == "." || n == ".." || n[0] == '-' {
		return false
	}
	for _, c := range []byte(n) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._-", c) >= 0) {
			return false
		}
	}
	return true
}
