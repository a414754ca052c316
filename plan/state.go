// Package plan compares what two manifest sets render to and says what
// apply must do: which tenants, apps and unit files are added, changed or
// removed, and which units to start, restart and stop. It knows nothing
// about systemd or D-Bus; apply executes a Plan.
package plan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ehecoatl/ehecoatl/atomicfile"

	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/naming"
	"github.com/ehecoatl/ehecoatl/rendered"
)

// State is a rendered manifest set reduced to what plans compare. It is
// also the record apply keeps of what it last applied, so it must stay
// JSON-stable.
type State struct {
	// Units are the global unit files (ehecoatl.slice): name -> content hash.
	Units map[string]string `json:"units,omitempty"`
	// Tenants by name.
	Tenants map[string]*TenantState `json:"tenants"`
	// Routes is a hash of the whole routing table; a change reloads the router.
	Routes string `json:"routes"`
}

// TenantState is one tenant's share of a State.
type TenantState struct {
	// Manifest is the hash of the tenant file's bytes.
	Manifest string `json:"manifest"`
	// Units are the tenant's own unit files (its slice): name -> content hash.
	Units map[string]string `json:"units,omitempty"`
	// Limits is a hash of the tenant's limits, to name them in a plan.
	Limits string `json:"limits,omitempty"`
	// Apps by name.
	Apps map[string]*AppState `json:"apps"`
}

// AppState is one app's share of a State.
type AppState struct {
	// Units are the app's unit files (templates included): name -> hash.
	Units map[string]string `json:"units"`
	// Sockets are the socket units to run (worker instances expanded).
	Sockets []string `json:"sockets"`
	// Services are the service units that run when active (instances expanded).
	Services []string `json:"services"`
	// Routes is a hash of the app's routes.
	Routes string `json:"routes"`
	// Env is a hash of the app's env file ("" without env): a change
	// restarts the app without a daemon-reload.
	Env string `json:"env,omitempty"`
	// Fields hash each field the app's manifest sets (env per key), so
	// that a plan names what changed without holding a value (fields.go).
	// nil in a record of an older apply.
	Fields map[string]string `json:"fields,omitempty"`
	// Domains are the app's domains, to name those added and removed.
	Domains []string `json:"domains,omitempty"`
	// Secrets hash each secret's content by name, "" where it could not be
	// read (SetSecret): a changed hash restarts the app.
	Secrets map[string]string `json:"secrets,omitempty"`
	// StateDir is the app's state directory on the host, "" without state.
	StateDir string `json:"state_dir,omitempty"`
	// Held says why the app must not run: Suspended (its manifest) or
	// Stopped (the operator's record, State.Hold); "" runs it. Not
	// recorded: the manifest and the record of stops are the sources.
	Held string `json:"-"`
}

// SetSecret records the content of an app's secret as a hash, never the
// value (the record is root's only, like the env hashes). apply reads the
// files as root; a rotated secret then restarts the app.
func (st *State) SetSecret(tenant, app, name string, content []byte) {
	if ts := st.Tenants[tenant]; ts != nil && ts.Apps[app] != nil && ts.Apps[app].Secrets != nil {
		ts.Apps[app].Secrets[name] = hash(append([]byte("secret\x00"), content...))
	}
}

// Reasons an app is held (AppState.Held).
const (
	Suspended = "suspended"
	Stopped   = "stopped"
)

// Hold marks the apps for which stopped is true as held by the operator
// (those suspended stay so: the manifest wins).
func (st *State) Hold(stopped func(tenant, app string) bool) {
	if stopped == nil {
		return
	}
	for tn, t := range st.Tenants {
		for an, a := range t.Apps {
			if a.Held == "" && stopped(tn, an) {
				a.Held = Stopped
			}
		}
	}
}

func httpsOf(a *manifest.App) string {
	if a == nil {
		return ""
	}
	var s string
	if t := a.TLS; t.Mode != "" && t.Mode != manifest.TLSAuto {
		s = " tls=" + t.Mode
		if t.Mode == manifest.TLSFiles {
			s += ":" + t.CertFile + ":" + t.KeyFile
		}
	}
	if a.HSTS {
		s += " hsts"
	}
	return s
}

func hash(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:12])
}

// Render builds the State of a validated set from its rendering. From the
// set it takes only what the translator does not render: the manifests'
// validated bytes, hashed so that a comment-only edit still counts as a
// change of the tenant (it is installed, though nothing restarts), and the
// routes. Everything else (which unit is whose, the apps' unit names, the
// env files) is the rendering's, as apply installs it.
func Render(set *manifest.Set, out *rendered.Output) (*State, error) {
	st := &State{Units: map[string]string{}, Tenants: map[string]*TenantState{}}
	for _, t := range set.Tenants {
		if t.Source == nil {
			return nil, fmt.Errorf("plan: %s: the loaded set holds no content for it", t.File)
		}
		st.Tenants[t.Name] = &TenantState{Manifest: hash(t.Source), Units: map[string]string{}, Apps: map[string]*AppState{}}
	}
	for _, a := range out.Apps {
		ts := st.Tenants[a.Tenant]
		if ts == nil {
			return nil, fmt.Errorf("plan: app %s/%s belongs to no tenant of the set", a.Tenant, a.Name)
		}
		as := &AppState{
			Units:    map[string]string{},
			Sockets:  append([]string(nil), a.Units.Sockets...),
			Services: append([]string(nil), a.Units.Services...),
		}
		if a.Suspended {
			as.Held = Suspended
		}
		if env, ok := out.Env[naming.EnvFileRel(a.Tenant, a.Name)]; ok {
			as.Env = hash(env)
		}
		ts.Apps[a.Name] = as
	}
	appRoutes := map[[2]string][]string{}
	apps := map[[2]string]*manifest.App{}
	for _, t := range set.Tenants {
		st.Tenants[t.Name].Limits = hash(fmt.Appendf(nil, "%v", t.Limits))
		for _, a := range t.Apps {
			apps[[2]string{t.Name, a.Name}] = a
			if as := st.Tenants[t.Name].Apps[a.Name]; as != nil {
				as.Fields = fieldsOf(a)
				as.Domains = append([]string(nil), a.Domains...)
				as.StateDir = stateDir(a)
				if len(a.Secrets) > 0 {
					as.Secrets = map[string]string{}
					for _, s := range a.Secrets {
						as.Secrets[s] = ""
					}
				}
			}
		}
	}
	var all []string
	for _, r := range set.Routes {
		// How the router serves the route is part of it: a tls: or hsts:
		// change reloads the router. The defaults add nothing, so the
		// routes of manifests without them hash as before.
		line := r.Domain + " " + r.Path + " " + r.Tenant + " " + r.App + httpsOf(apps[[2]string{r.Tenant, r.App}])
		all = append(all, line)
		k := [2]string{r.Tenant, r.App}
		appRoutes[k] = append(appRoutes[k], line)
	}
	st.Routes = hash([]byte(strings.Join(all, "\n")))
	for k, lines := range appRoutes {
		if ts := st.Tenants[k[0]]; ts != nil && ts.Apps[k[1]] != nil {
			ts.Apps[k[1]].Routes = hash([]byte(strings.Join(lines, "\n")))
		}
	}
	for _, f := range out.Files {
		h := hash(f.Data)
		tenant, app := f.Tenant, f.App
		switch {
		case tenant == "":
			st.Units[f.Name] = h
		case st.Tenants[tenant] == nil:
			return nil, fmt.Errorf("plan: unit %s belongs to no tenant", f.Name)
		case app == "":
			st.Tenants[tenant].Units[f.Name] = h
		case st.Tenants[tenant].Apps[app] == nil:
			return nil, fmt.Errorf("plan: unit %s belongs to no app", f.Name)
		default:
			st.Tenants[tenant].Apps[app].Units[f.Name] = h
		}
	}
	return st, nil
}

// Undescribed reports whether a record lacks the fields of some app: it
// was written by an older apply.
func (st *State) Undescribed() bool {
	for _, ts := range st.Tenants {
		for _, as := range ts.Apps {
			if as.Fields == nil {
				return true
			}
		}
	}
	return false
}

// Describe fills in what a plan names (fields, domains, secret names,
// state directory, limits) for the tenants and apps of st that lack it,
// from from. Unit hashes, which decide the steps, stay st's; secrets get
// no content hash, so nothing counts as rotated.
func (st *State) Describe(from *State) {
	for tn, ts := range st.Tenants {
		ft := from.Tenants[tn]
		if ft == nil {
			continue
		}
		if ts.Limits == "" {
			ts.Limits = ft.Limits
		}
		for an, as := range ts.Apps {
			fa := ft.Apps[an]
			if fa == nil || as.Fields != nil {
				continue
			}
			as.Fields, as.Domains, as.StateDir = fa.Fields, fa.Domains, fa.StateDir
			if len(fa.Secrets) > 0 {
				as.Secrets = map[string]string{}
				for name := range fa.Secrets {
					as.Secrets[name] = ""
				}
			}
		}
	}
}

// Load reads a State record written by Save; a missing file is (nil, nil).
func Load(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if st.Tenants == nil {
		st.Tenants = map[string]*TenantState{}
	}
	return &st, nil
}

// Save writes the record atomically (temp file, fsync, rename), readable
// by root only: it holds a hash of every app's env file, against which a
// guessed password could be tried.
func Save(path string, st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	// A no-op apply records what is there already: no second write and
	// sync of a record of thousands of apps. A record of another mode
	// is written again (atomicfile gives it 0600).
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() == 0o600 {
			return nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o600, -1)
}
