package plan

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/ehecoatl/ehecoatl/manifest"
)

// Plan is what apply must do to go from one State to another.
type Plan struct {
	TenantsAdded   []string `json:"tenants_added"`
	TenantsChanged []string `json:"tenants_changed"`
	TenantsRemoved []string `json:"tenants_removed"`
	// Apps are named "tenant/app".
	AppsAdded   []string `json:"apps_added"`
	AppsChanged []string `json:"apps_changed"`
	AppsRemoved []string `json:"apps_removed"`
	// Unit files, by file name (templates, not instances).
	UnitsAdded   []string `json:"units_added"`
	UnitsChanged []string `json:"units_changed"`
	UnitsRemoved []string `json:"units_removed"`
	// Start are sockets that must listen and did not before.
	Start []string `json:"start"`
	// Restart are units whose rendered content changed; apply restarts
	// them only if they are running (sockets are restarted, services
	// try-restarted).
	Restart []string `json:"restart"`
	// Stop are units of removed apps, tenants and worker instances.
	Stop []string `json:"stop"`
	// RoutesChanged means the router must reload its table.
	RoutesChanged bool `json:"routes_changed"`
	// AppChanges name per changed app ("tenant/app") what changed, never a
	// value: "command", "env.SHOP_MODE", "secret db_password rotated",
	// "domains +www.acme.example.com" (fields.go). An app recorded by an
	// older apply has none.
	AppChanges map[string][]string `json:"app_changes"`
	// TenantChanges name per changed tenant what changed ("limits").
	TenantChanges map[string][]string `json:"tenant_changes"`
	// State says, per app with a state directory that is added, changed
	// or removed, what happens to it ("kept in /var/lib/private/...").
	State map[string]string `json:"state"`
	// TenantsInstalled is how many tenants the older state has.
	TenantsInstalled int `json:"tenants_installed"`
	// PruneNeeded: the plan removes every installed tenant, or more than
	// half of them. apply refuses it unless told --prune: that is what an
	// apply of the wrong directory looks like (docs/OPERATIONS.md).
	PruneNeeded bool `json:"prune_needed"`
	// Warnings are the validation warnings of the directory planned, as
	// `ehecoatl validate` prints them (set by package apply).
	Warnings []manifest.Finding `json:"warnings"`
	// Steps are what apply does, in order (steps.go).
	Steps []Step `json:"steps"`
}

// UnitsChanged reports whether any unit file is added, changed or removed,
// that is, whether systemd needs a daemon-reload.
func (p *Plan) UnitFilesChanged() bool {
	return len(p.UnitsAdded)+len(p.UnitsChanged)+len(p.UnitsRemoved) > 0
}

// Empty reports whether the plan changes nothing at all.
func (p *Plan) Empty() bool {
	return len(p.TenantsAdded)+len(p.TenantsChanged)+len(p.TenantsRemoved) == 0 &&
		len(p.AppsAdded)+len(p.AppsChanged)+len(p.AppsRemoved) == 0 &&
		!p.UnitFilesChanged() && len(p.Start)+len(p.Restart)+len(p.Stop) == 0 && !p.RoutesChanged
}

// Diff computes the plan from old (nil: nothing applied yet) to new.
func Diff(old, new *State) *Plan {
	if old == nil {
		old = &State{}
	}
	p := &Plan{AppChanges: map[string][]string{}, TenantChanges: map[string][]string{}, State: map[string]string{},
		Warnings: []manifest.Finding{}, TenantsInstalled: len(old.Tenants)}
	// Empty lists, not null, for JSON readers.
	for _, l := range p.lists() {
		*l = []string{}
	}
	diffUnits(p, old.Units, new.Units)
	for _, tn := range union(slices.Sorted(maps.Keys(old.Tenants)), slices.Sorted(maps.Keys(new.Tenants))) {
		ot, nt := old.Tenants[tn], new.Tenants[tn]
		switch {
		case ot == nil:
			p.TenantsAdded = append(p.TenantsAdded, tn)
			ot = &TenantState{}
		case nt == nil:
			p.TenantsRemoved = append(p.TenantsRemoved, tn)
			// Its slice stays active (and in systemctl's list) while
			// nothing stops it, even with its unit file gone.
			p.Stop = append(p.Stop, slices.Sorted(maps.Keys(ot.Units))...)
			nt = &TenantState{}
		}
		diffUnits(p, ot.Units, nt.Units)
		tenantChanged := ot.Manifest != nt.Manifest || !sameMap(ot.Units, nt.Units)
		if old.Tenants[tn] != nil && new.Tenants[tn] != nil && ot.Limits != "" && ot.Limits != nt.Limits {
			p.TenantChanges[tn] = []string{"limits"}
		}
		for _, an := range union(slices.Sorted(maps.Keys(ot.Apps)), slices.Sorted(maps.Keys(nt.Apps))) {
			id := tn + "/" + an
			oa, na := ot.Apps[an], nt.Apps[an]
			switch {
			case oa == nil:
				if ot.Apps != nil && old.Tenants[tn] != nil {
					tenantChanged = true
				}
				p.AppsAdded = append(p.AppsAdded, id)
				if n := stateNote(nil, na, tn); n != "" {
					p.State[id] = n
				}
				diffUnits(p, nil, na.Units)
				p.Start = append(p.Start, na.Sockets...)
			case na == nil:
				if new.Tenants[tn] != nil {
					tenantChanged = true
				}
				p.AppsRemoved = append(p.AppsRemoved, id)
				if n := stateNote(oa, nil, tn); n != "" {
					p.State[id] = n
				}
				diffUnits(p, oa.Units, nil)
				p.Stop = append(p.Stop, oa.Services...)
				p.Stop = append(p.Stop, oa.Sockets...)
				// Its other unit files (a one-worker app's second slot,
				// which a failed rollout may have left serving) stop too;
				// templates run as the instances listed above.
				for _, u := range slices.Sorted(maps.Keys(oa.Units)) {
					if !strings.Contains(u, "@.") && !slices.Contains(oa.Services, u) && !slices.Contains(oa.Sockets, u) {
						p.Stop = append(p.Stop, u)
					}
				}
			default:
				if diffApp(p, oa, na) {
					p.AppsChanged = append(p.AppsChanged, id)
					if c := appChanges(oa, na); len(c) > 0 {
						p.AppChanges[id] = c
					}
					if n := stateNote(oa, na, tn); n != "" {
						p.State[id] = n
					}
					tenantChanged = true
				}
			}
		}
		if tenantChanged && old.Tenants[tn] != nil && new.Tenants[tn] != nil {
			p.TenantsChanged = append(p.TenantsChanged, tn)
		}
	}
	p.RoutesChanged = old.Routes != new.Routes
	if r := len(p.TenantsRemoved); r > 0 && (r == len(old.Tenants) || 2*r > len(old.Tenants)) {
		p.PruneNeeded = true
	}
	for _, l := range p.lists() {
		sort.Strings(*l)
	}
	p.Steps = applySteps(p, new)
	return p
}

func (p *Plan) lists() []*[]string {
	return []*[]string{&p.TenantsAdded, &p.TenantsChanged, &p.TenantsRemoved,
		&p.AppsAdded, &p.AppsChanged, &p.AppsRemoved,
		&p.UnitsAdded, &p.UnitsChanged, &p.UnitsRemoved, &p.Start, &p.Restart, &p.Stop}
}

// diffApp records the unit-level changes of an app that exists on both
// sides and reports whether anything about it changed.
func diffApp(p *Plan, oa, na *AppState) bool {
	changed := diffUnits(p, oa.Units, na.Units)
	// Worker count changes add or remove instances without touching the
	// template files.
	oldSock, newSock := set(oa.Sockets), set(na.Sockets)
	for _, s := range na.Sockets {
		if !oldSock[s] {
			p.Start = append(p.Start, s)
			changed = true
		}
	}
	newSvc := set(na.Services)
	for _, s := range oa.Services {
		if !newSvc[s] {
			p.Stop = append(p.Stop, s)
			changed = true
		}
	}
	for _, s := range oa.Sockets {
		if !newSock[s] {
			p.Stop = append(p.Stop, s)
			changed = true
		}
	}
	rot := len(rotated(oa, na)) > 0
	if !sameMap(oa.Units, na.Units) || oa.Env != na.Env || rot {
		// Restart every surviving instance of a changed template: which
		// file changed does not matter to the app, it sees one sandbox.
		for _, s := range na.Sockets {
			if oldSock[s] && socketChanged(oa, na) {
				p.Restart = append(p.Restart, s)
			}
		}
		oldSvc := set(oa.Services)
		for _, s := range na.Services {
			if oldSvc[s] {
				p.Restart = append(p.Restart, s)
			}
		}
	}
	// A field that renders to nothing (and a record of an older apply
	// has no fields) changes no step, but the plan names it.
	described := oa.Fields != nil && (!sameMap(oa.Fields, na.Fields) || !slices.Equal(oa.Domains, na.Domains) ||
		!slices.Equal(slices.Sorted(maps.Keys(oa.Secrets)), slices.Sorted(maps.Keys(na.Secrets))))
	return changed || oa.Routes != na.Routes || oa.Env != na.Env || rot || described
}

func socketChanged(oa, na *AppState) bool {
	for name, h := range na.Units {
		if strings.HasSuffix(name, ".socket") && oa.Units[name] != h {
			return true
		}
	}
	return false
}

func diffUnits(p *Plan, old, new map[string]string) bool {
	changed := false
	for _, n := range union(slices.Sorted(maps.Keys(old)), slices.Sorted(maps.Keys(new))) {
		o, okO := old[n]
		nw, okN := new[n]
		switch {
		case !okO:
			p.UnitsAdded = append(p.UnitsAdded, n)
			changed = true
		case !okN:
			p.UnitsRemoved = append(p.UnitsRemoved, n)
			changed = true
		case o != nw:
			p.UnitsChanged = append(p.UnitsChanged, n)
			changed = true
		}
	}
	return changed
}

// Print writes the plan for people, one line per tenant and app; what
// changed in an app follows its name, what happens to its state below it.
func (p *Plan) Print(w io.Writer) {
	listed := map[string]bool{}
	app := func(sign, id string) {
		listed[id] = true
		fmt.Fprintf(w, "%s app %s%s\n", sign, id, changes(p.AppChanges[id]))
		if n := p.State[id]; n != "" {
			fmt.Fprintf(w, "    state: %s\n", n)
		}
	}
	// State notes of apps the plan does not change (say, an older
	// per-worker directory apply found beside an unchanged app).
	unlisted := func() {
		for _, id := range slices.Sorted(maps.Keys(p.State)) {
			if !listed[id] {
				fmt.Fprintf(w, "= app %s\n    state: %s\n", id, p.State[id])
			}
		}
	}
	if p.Empty() {
		fmt.Fprintln(w, "no changes: the installed manifests and units are up to date")
		unlisted()
		p.printHeld(w)
		return
	}
	for _, t := range p.TenantsAdded {
		fmt.Fprintf(w, "+ tenant %s\n", t)
	}
	for _, t := range p.TenantsChanged {
		fmt.Fprintf(w, "~ tenant %s%s\n", t, changes(p.TenantChanges[t]))
	}
	for _, t := range p.TenantsRemoved {
		fmt.Fprintf(w, "- tenant %s (its state directories are kept; 'ehecoatl purge %s' deletes them)\n", t, t)
	}
	for _, a := range p.AppsAdded {
		app("+", a)
	}
	for _, a := range p.AppsChanged {
		app("~", a)
	}
	for _, a := range p.AppsRemoved {
		app("-", a)
	}
	unlisted()
	fmt.Fprintf(w, "unit files: %d added, %d changed, %d removed\n", len(p.UnitsAdded), len(p.UnitsChanged), len(p.UnitsRemoved))
	line(w, "start", p.Start)
	line(w, "restart (if running)", p.Restart)
	line(w, "stop", p.Stop)
	if p.RoutesChanged {
		fmt.Fprintln(w, "routes: changed (the router reloads its table)")
	}
	p.printHeld(w)
	if p.PruneNeeded {
		fmt.Fprintf(w, "warning: %s; apply refuses it without --prune\n", p.Pruning())
	}
}

// Pruning describes what makes PruneNeeded.
func (p *Plan) Pruning() string {
	return fmt.Sprintf("this plan removes %d of the %d installed tenants (%s)", len(p.TenantsRemoved), p.TenantsInstalled, strings.Join(p.TenantsRemoved, ", "))
}

func changes(c []string) string {
	if len(c) == 0 {
		return ""
	}
	return ": " + strings.Join(c, ", ")
}

// printHeld names the apps apply leaves down (docs/OPERATIONS.md
// "Stopping and suspending").
func (p *Plan) printHeld(w io.Writer) {
	for _, s := range p.Steps {
		if s.Op == Listen {
			line(w, "left stopped", s.Held)
		}
	}
}

func line(w io.Writer, verb string, units []string) {
	if len(units) == 0 {
		return
	}
	const max = 8
	shown := units
	more := ""
	if len(units) > max {
		shown, more = units[:max], fmt.Sprintf(" ... and %d more", len(units)-max)
	}
	fmt.Fprintf(w, "%s: %s%s\n", verb, strings.Join(shown, " "), more)
}

func union(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range [][]string{a, b} {
		for _, s := range l {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	sort.Strings(out)
	return out
}

func set(l []string) map[string]bool {
	m := make(map[string]bool, len(l))
	for _, s := range l {
		m[s] = true
	}
	return m
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
