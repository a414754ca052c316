// Package preflight checks that a host has what the units apply writes
// depend on, so that apply fails before it changes anything, saying what
// is missing and how to fix it, instead of every socket failing later with
// status=216/GROUP. `ehecoatl doctor` prints the same checks
// (docs/OPERATIONS.md "Preflight: ehecoatl doctor").
package preflight

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"

	"github.com/ehecoatl/ehecoatl/dbus"
	"github.com/ehecoatl/ehecoatl/layout"
	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/naming"
	"github.com/ehecoatl/ehecoatl/routerenv"
)

// MinSystemd is the oldest systemd whose sandbox options the units rely
// on (docs/DESIGN.md "File system").
const MinSystemd = 252

// Level says how much a finding matters.
type Level string

const (
	// OK: the check passed.
	OK Level = "ok"
	// Warn: apply goes on; something is not enforced or not reachable.
	Warn Level = "warn"
	// Fail: the units would not work; apply refuses to change anything.
	Fail Level = "fail"
)

// Result is the outcome of one check.
type Result struct {
	Check  string `json:"check"`
	Level  Level  `json:"level"`
	Detail string `json:"detail"`
	// Fix says how to fix a warning or failure.
	Fix string `json:"fix,omitempty"`
}

// Systemd is what the checks ask systemd; *dbus.Client implements it.
type Systemd interface {
	ManagerStats(ctx context.Context) (dbus.ManagerStats, error)
	ListUnits(ctx context.Context, patterns ...string) ([]dbus.UnitStatus, error)
}

var _ Systemd = (*dbus.Client)(nil)

// Host is what the checks look at.
type Host struct {
	Layout layout.Layout
	// Bin is the ehecoatl binary bridge services run
	// (generator.Options.Bin); default naming.Bin.
	Bin     string
	Systemd Systemd
	// LookupGroup reports whether a group exists; default os/user.
	LookupGroup func(name string) error
	// GroupName names a group ID; default os/user.
	GroupName func(gid uint32) (string, error)
}

// Needs says which optional parts of the host a manifest set uses.
type Needs struct {
	// Bridge: some app has `port:`, so bridge services run Bin.
	Bridge bool
	// Egress: some app has an egress list, so it requires
	// ehecoatl-firewall.service.
	Egress bool
}

// Names lists the needs that are set, by field name: apply records them
// so that an apply it need not render checks the same (every field, so a
// need added here is recorded too).
func (n Needs) Names() []string {
	var out []string
	v := reflect.ValueOf(n)
	for i := 0; i < v.NumField(); i++ {
		if v.Field(i).Bool() {
			out = append(out, v.Type().Field(i).Name)
		}
	}
	return out
}

// NeedsNamed is the Needs that Names listed.
func NeedsNamed(names []string) Needs {
	var n Needs
	v := reflect.ValueOf(&n).Elem()
	for _, name := range names {
		if f := v.FieldByName(name); f.IsValid() {
			f.SetBool(true)
		}
	}
	return n
}

// NeedsOf returns what set uses; nil uses nothing optional.
func NeedsOf(set *manifest.Set) Needs {
	var n Needs
	if set == nil {
		return n
	}
	for _, t := range set.Tenants {
		for _, a := range t.Apps {
			n.Bridge = n.Bridge || a.Listen == manifest.ListenPort
			n.Egress = n.Egress || len(a.Egress) > 0
		}
	}
	return n
}

// Run runs every check, in a fixed order.
func Run(ctx context.Context, h Host, n Needs) []Result {
	if h.Bin == "" {
		h.Bin = naming.Bin
	}
	if h.LookupGroup == nil {
		h.LookupGroup = func(name string) error { _, err := user.LookupGroup(name); return err }
	}
	if h.GroupName == nil {
		h.GroupName = func(gid uint32) (string, error) {
			g, err := user.LookupGroupId(strconv.FormatUint(uint64(gid), 10))
			if err != nil {
				return "", err
			}
			return g.Name, nil
		}
	}
	sd := checkSystemd(ctx, h)
	rs := []Result{sd, checkGroup(h), checkGenerator(h), checkBin(h, n), checkMergedUsr(h), checkSandboxRoot(h), checkSocketDir(h), checkCgroup(h), checkMetrics(h)}
	if sd.Level == OK {
		rs = append(rs, checkUnits(ctx, h, n)...)
	}
	return rs
}

// Failed returns the results at level Fail.
func Failed(rs []Result) []Result { return at(rs, Fail) }

// Warnings returns the results at level Warn.
func Warnings(rs []Result) []Result { return at(rs, Warn) }

func at(rs []Result, l Level) []Result {
	var out []Result
	for _, r := range rs {
		if r.Level == l {
			out = append(out, r)
		}
	}
	return out
}

// Error is a preflight that failed: nothing was changed.
type Error struct{ Failed []Result }

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "preflight: %d check(s) failed, nothing was changed:", len(e.Failed))
	for _, r := range e.Failed {
		fmt.Fprintf(&b, "\n  %s: %s", r.Check, r.Detail)
		if r.Fix != "" {
			fmt.Fprintf(&b, "\n    fix: %s", r.Fix)
		}
	}
	return b.String()
}

func checkSystemd(ctx context.Context, h Host) Result {
	r := Result{Check: "systemd"}
	if h.Systemd == nil {
		return fail(r, "not asked (no connection)", "")
	}
	st, err := h.Systemd.ManagerStats(ctx)
	if err != nil {
		return fail(r, err.Error(), "run as root on a host booted with systemd")
	}
	v, ok := major(st.Version)
	if !ok || v < MinSystemd {
		return fail(r, fmt.Sprintf("version %q; Ehecoatl needs %d or newer", st.Version, MinSystemd),
			"use a distribution with systemd >= 252 (Debian 12, Ubuntu 24.04, RHEL/Rocky 9.2+)")
	}
	r.Level, r.Detail = OK, "version "+st.Version
	return r
}

// major reads the leading number of a systemd version ("252.30-1~deb12u2").
func major(v string) (int, bool) {
	i := 0
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	n, err := strconv.Atoi(v[:i])
	return n, err == nil
}

func checkGroup(h Host) Result {
	r := Result{Check: "group"}
	if err := h.LookupGroup(naming.RouterGroup); err != nil {
		return fail(r, fmt.Sprintf("no group %s: the router reaches the app sockets through it (%s is root:%s 0750), so no request would reach an app", naming.RouterGroup, naming.RunDir, naming.RouterGroup),
			"systemd-sysusers (the package ships /usr/lib/sysusers.d/ehecoatl.conf; reinstall it), or: groupadd --system "+naming.RouterGroup)
	}
	r.Level, r.Detail = OK, naming.RouterGroup+" exists"
	return r
}

func checkGenerator(h Host) Result {
	r := Result{Check: "generator"}
	p := h.Layout.Path(naming.GeneratorBin)
	if err := executable(p); err != nil {
		return fail(r, fmt.Sprintf("%s: %v: systemd would not render the installed manifests into units", naming.GeneratorBin, err),
			"reinstall the ehecoatl package (it installs the generator there)")
	}
	r.Level, r.Detail = OK, naming.GeneratorBin
	return r
}

// checkMetrics reads EHECOATL_METRICS_LISTEN as the generator does: a
// value it cannot use leaves the router without its metrics socket
// (docs/METRICS.md), which nothing else would tell.
func checkMetrics(h Host) Result {
	r := Result{Check: "metrics"}
	m, err := routerenv.ReadMetricsFile(h.Layout.Path(routerenv.Path))
	switch {
	case err != nil:
		return Result{Check: r.Check, Level: Warn, Detail: err.Error() + ": the generator writes no metrics socket, /metrics is not served",
			Fix: "write " + routerenv.Hint + ", then systemctl daemon-reload && systemctl restart " + naming.RouterMetricsSocket + " " + naming.RouterUnit}
	case m.Off:
		r.Level, r.Detail = OK, routerenv.MetricsVar+"=off: no metrics socket"
	default:
		r.Level, r.Detail = OK, naming.RouterMetricsSocket+" on "+m.ListenStream()
	}
	return r
}

func checkBin(h Host, n Needs) Result {
	r := Result{Check: "binary"}
	if err := executable(h.Layout.Path(h.Bin)); err != nil {
		r.Detail = fmt.Sprintf("%s: %v: bridge services of port: apps run it", h.Bin, err)
		r.Fix = "install the package (it puts ehecoatl in /usr/bin), or link the binary there"
		if n.Bridge {
			r.Level = Fail
			r.Detail += ", and these manifests have port: apps"
		} else {
			r.Level = Warn
		}
		return r
	}
	r.Level, r.Detail = OK, h.Bin
	return r
}

// checkSocketDir: the app sockets are 0666 (systemd sets a socket's group
// only by forking a helper per socket), so the directory that holds them
// is what keeps every user but root and the router out (docs/DESIGN.md
// "Names and paths").
func checkSocketDir(h Host) Result {
	r := Result{Check: "socket directory"}
	const fix = "systemd-tmpfiles --create /usr/lib/tmpfiles.d/ehecoatl.conf (the package runs it at install and at boot)"
	fi, err := os.Stat(h.Layout.Path(naming.RunDir))
	if err != nil || !fi.IsDir() {
		return fail(r, fmt.Sprintf("%s is missing: the app sockets live in it, and their units do not start without it", naming.RunDir), fix)
	}
	var gid uint32
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		gid = st.Gid
	}
	group, err := h.GroupName(gid)
	if err != nil {
		group = strconv.FormatUint(uint64(gid), 10)
	}
	switch perm := fi.Mode().Perm(); {
	case perm&0o007 != 0:
		return fail(r, fmt.Sprintf("%s is mode %04o: every local user could connect to every app (its sockets are 0666); only root and the group %s may enter it", naming.RunDir, perm, naming.RouterGroup), fix)
	case group != naming.RouterGroup || perm&0o050 != 0o050:
		return fail(r, fmt.Sprintf("%s is mode %04o of group %s: the router (group %s) could not reach the app sockets", naming.RunDir, perm, group, naming.RouterGroup), fix)
	}
	r.Level, r.Detail = OK, naming.RunDir+" is root:"+naming.RouterGroup+" "+fmt.Sprintf("%04o", fi.Mode().Perm())
	return r
}

// sandboxMounts are mount points the hardening profile binds into every
// sandbox; without them systemd fails every app with status=226/NAMESPACE.
var sandboxMounts = []string{"dev", "etc", "proc", "run", "tmp", "usr", "var"}

// usrLinks are the top-level directories that the sandbox root links into
// /usr (packaging/tmpfiles.d: "bin -> usr/bin"...) instead of binding
// them, which needs a host whose /usr is merged.
var usrLinks = []string{"bin", "sbin", "lib", "lib64", "lib32", "libx32"}

func checkSandboxRoot(h Host) Result {
	r := Result{Check: "sandbox root"}
	const fix = "systemd-tmpfiles --create /usr/lib/tmpfiles.d/ehecoatl.conf (the package runs it at install and at boot)"
	for _, m := range append([]string{""}, sandboxMounts...) {
		p := filepath.Join(naming.SandboxRoot, m)
		if fi, err := os.Stat(h.Layout.Path(p)); err != nil || !fi.IsDir() {
			return fail(r, fmt.Sprintf("%s is missing: every app runs with RootDirectory=%s", p, naming.SandboxRoot), fix)
		}
	}
	for _, m := range usrLinks {
		p := filepath.Join(naming.SandboxRoot, m)
		if t, err := os.Readlink(h.Layout.Path(p)); err != nil || t != "usr/"+m {
			return fail(r, fmt.Sprintf("%s is not a link to usr/%s: apps would find no %s (the sandbox binds only /usr and /etc)", p, m, "/"+m), fix)
		}
	}
	r.Level, r.Detail = OK, naming.SandboxRoot
	return r
}

// checkMergedUsr: the sandbox root's /bin, /sbin and /lib* are links into
// /usr, so a host whose /bin is a directory of its own would run apps that
// miss its programs (docs/DESIGN.md "File system: an empty root").
func checkMergedUsr(h Host) Result {
	r := Result{Check: "merged /usr"}
	const fix = "merge /usr (Debian: apt install usrmerge; every Debian 12 installation has it)"
	for _, m := range usrLinks {
		p := "/" + m
		fi, err := os.Lstat(h.Layout.Path(p))
		if errors.Is(err, fs.ErrNotExist) {
			continue // the sandbox's link then points at /usr/<m>, which the host lacks as well, or has
		}
		if err != nil {
			return fail(r, fmt.Sprintf("%s: %v", p, err), fix)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return fail(r, fmt.Sprintf("%s is a directory, not a link into /usr: apps see the host's /usr only, so they would miss what is in %s", p, p), fix)
		}
		t, err := os.Readlink(h.Layout.Path(p))
		if err != nil {
			return fail(r, fmt.Sprintf("%s: %v", p, err), fix)
		}
		if !filepath.IsAbs(t) {
			t = filepath.Join("/", t)
		}
		if filepath.Clean(t) != "/usr/"+m {
			return fail(r, fmt.Sprintf("%s links to %s: in the sandbox it links to /usr/%s", p, t, m), fix)
		}
	}
	r.Level, r.Detail = OK, "/bin, /sbin and /lib* are links into /usr"
	return r
}

func checkCgroup(h Host) Result {
	r := Result{Check: "cgroup v2"}
	if _, err := os.Stat(h.Layout.Path("/sys/fs/cgroup/cgroup.controllers")); err != nil {
		r.Level = Warn
		r.Detail = "this host does not use the unified cgroup hierarchy: tenant limits, egress lists and ehecoatl-firewall are written but not enforced"
		r.Fix = "boot with systemd.unified_cgroup_hierarchy=1"
		return r
	}
	r.Level, r.Detail = OK, "unified hierarchy"
	return r
}

// checkUnits looks at the packaged units: the router's socket (without it
// nothing answers on :80) and, for egress lists, the firewall.
func checkUnits(ctx context.Context, h Host, n Needs) []Result {
	if h.Systemd == nil {
		return nil
	}
	l, err := h.Systemd.ListUnits(ctx, naming.RouterSocket, naming.FirewallUnit)
	if err != nil {
		return []Result{{Check: "units", Level: Warn, Detail: err.Error()}}
	}
	state := map[string]dbus.UnitStatus{}
	for _, s := range l {
		state[s.Name] = s
	}
	rs := []Result{unitResult("router socket", state[naming.RouterSocket], naming.RouterSocket,
		"nothing answers HTTP for the tenants' domains", "systemctl enable --now "+naming.RouterSocket)}
	if n.Egress {
		// Apps with an egress list start it (Requires=); only a failed
		// one is news.
		fw := state[naming.FirewallUnit]
		r := Result{Check: "firewall", Level: OK, Detail: naming.FirewallUnit + " is " + or(fw.ActiveState, "not loaded") + " (apps with an egress list start it)"}
		if fw.ActiveState == "failed" {
			r.Level = Warn
			r.Detail = naming.FirewallUnit + " failed: apps with an egress list require it and will not start"
			r.Fix = "journalctl -u " + naming.FirewallUnit + "; is nftables installed?"
		}
		rs = append(rs, r)
	}
	return rs
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func unitResult(check string, s dbus.UnitStatus, unit, without, fix string) Result {
	if s.ActiveState == "active" {
		return Result{Check: check, Level: OK, Detail: unit + " is " + s.SubState}
	}
	return Result{Check: check, Level: Warn, Detail: fmt.Sprintf("%s is %s: %s", unit, or(s.ActiveState, "not loaded"), without), Fix: fix}
}

func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("not found")
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("not an executable file")
	}
	return nil
}

func fail(r Result, detail, fix string) Result {
	r.Level, r.Detail, r.Fix = Fail, detail, fix
	return r
}
