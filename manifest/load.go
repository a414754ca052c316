package manifest

// Loading a manifest directory: listing tenants/ and kits/, parsing every
// file, merging kits, and the rules that span files (domain ownership,
// host-wide ports).
//
// Directory decisions:
//   - tenants/ must exist; it may be empty (zero tenants: apply --prune
//     removes every tenant; docs/OPERATIONS.md "Reading a plan"). kits/ is
//     optional.
//   - Only files named *.yaml directly in tenants/ and kits/ are read.
//     "*.yml" (any case of either extension other than ".yaml") is an
//     error with a hint to rename: silently skipping a tenant that the
//     user meant to deploy would remove it on apply. Other files and
//     subdirectories are warnings (ignored). Names starting with "." are
//     ignored silently (.gitkeep, editor swap files), which also makes
//     ".acme.yaml" a way to park a file.
//   - Symbolic links are followed; non-regular files (FIFOs, devices) are
//     errors and never opened.

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads DIR/tenants/*.yaml and DIR/kits/*.yaml and validates them.
// The Set is non-nil only when the report has no errors; the report is
// never nil and lists every finding of every file.
func Load(dir string) (*Set, *Report) { return LoadObserved(dir, nil) }

// LoadObserved is Load noting in o everything it reads (observe.go).
func LoadObserved(dir string, o *Observer) (*Set, *Report) {
	st, err := os.Stat(dir)
	if o != nil {
		st, err = o.dir(dir)
	}
	if err != nil || !st.IsDir() {
		msg := fmt.Sprintf("manifest directory %q is not a directory", dir)
		if err != nil {
			msg = fmt.Sprintf("cannot read manifest directory %q: %s", dir, errText(err))
		}
		return nil, &Report{Findings: []Finding{{Message: msg,
			Hint: "give the directory that contains tenants/ (default /etc/ehecoatl)"}}}
	}
	return loadFS(o.fs(os.DirFS(dir)), dir, o)
}

// LoadFS is Load over any fs.FS rooted at the manifest directory (tests and
// fuzzing use fstest.MapFS). dirLabel becomes Set.Dir.
func LoadFS(fsys fs.FS, dirLabel string) (*Set, *Report) { return loadFS(fsys, dirLabel, nil) }

func loadFS(fsys fs.FS, dirLabel string, o *Observer) (*Set, *Report) {
	l := &loader{fsys: fsys, kits: map[string]*rawKit{}, obs: o}
	tenantFiles, _ := l.listDir("tenants", true)
	kitFiles, ymlKits := l.listDir("kits", false)
	l.ymlKits = ymlKits
	for _, f := range kitFiles {
		l.loadKit(f)
	}
	l.parsed = prefetch(fsys, tenantFiles, "tenant")
	for _, f := range tenantFiles {
		l.loadTenant(f)
	}
	l.crossCheck()
	r := &l.c.report
	r.sort()
	if r.HasErrors() {
		return nil, r
	}
	return l.build(dirLabel), r
}

type loader struct {
	fsys    fs.FS
	obs     *Observer // notes the host facts validation reads
	c       collector
	tenants []*rawTenant // sorted by file name
	kits    map[string]*rawKit
	ymlKits map[string]string // stem -> "kits/x.yml", for hints
	parsed  map[string]*parsed
	// sources are the bytes each file was validated from, kept so that
	// apply installs exactly those and never re-reads a file that may
	// have changed since.
	sources map[string][]byte
}

type rawTenant struct {
	name   string // from the file name
	file   string
	limits Limits
	// suspended: the tenant is installed but not served (docs/MANIFEST.md).
	suspended bool
	apps      []*rawApp // sorted by name
	merged    []*rawApp // same order, kits applied
}

type rawKit struct {
	name   string
	file   string
	parsed bool // the YAML parsed; fields are known even if some are invalid
	app    *rawApp
}

// listDir returns the manifest files of dir, sorted, reporting everything
// else in it. yml maps stems of misnamed *.yml files to their path.
func (l *loader) listDir(dir string, required bool) (files []string, yml map[string]string) {
	yml = map[string]string{}
	st, err := fs.Stat(l.fsys, dir)
	switch {
	case err != nil && errorsIsNotExist(err):
		if required {
			l.c.add(Finding{File: dir, Message: "missing tenants/ directory",
				Hint: "create it; an empty tenants/ directory is valid and means no tenants"})
		}
		return nil, yml
	case err != nil:
		l.c.add(Finding{File: dir, Message: "cannot read directory: " + errText(err), Hint: "check its permissions"})
		return nil, yml
	case !st.IsDir():
		l.c.add(Finding{File: dir, Message: dir + " is not a directory", Hint: "replace it with a directory of *.yaml files"})
		return nil, yml
	}
	ents, err := fs.ReadDir(l.fsys, dir)
	if err != nil {
		l.c.add(Finding{File: dir, Message: "cannot read directory: " + errText(err), Hint: "check its permissions"})
		return nil, yml
	}
	for _, e := range ents {
		name := e.Name()
		p := dir + "/" + name
		if strings.HasPrefix(name, ".") {
			continue
		}
		isDir := e.IsDir()
		if e.Type()&fs.ModeSymlink != 0 {
			if st, err := fs.Stat(l.fsys, p); err == nil {
				isDir = st.IsDir()
			}
		}
		ext := path.Ext(name)
		stem := strings.TrimSuffix(name, ext)
		switch {
		case isDir:
			l.c.add(Finding{Severity: Warning, File: p, Message: "directory ignored; only *.yaml files directly in " + dir + "/ are read",
				Hint: "move its manifests up into " + dir + "/, or move the directory elsewhere"})
		case ext == ".yaml":
			files = append(files, p)
		case strings.EqualFold(ext, ".yml") || strings.EqualFold(ext, ".yaml"):
			yml[stem] = p
			l.c.add(Finding{File: p, Message: "manifest files must end in .yaml",
				Hint: fmt.Sprintf("rename it to %s/%s.yaml", dir, stem)})
		default:
			l.c.add(Finding{Severity: Warning, File: p, Message: "not a manifest; only *.yaml files are read",
				Hint: "move it out of " + dir + "/ (names starting with \".\" are ignored silently)"})
		}
	}
	slices.Sort(files)
	return files, yml
}

func errorsIsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// open reads and parses one file into its root mapping, or nil.
func (l *loader) open(d *fileDecoder) *yaml.Node {
	if pf := l.parsed[d.file]; pf != nil {
		for _, f := range pf.findings {
			d.c.add(f)
		}
		l.keep(d.file, pf.data)
		return pf.root
	}
	data, p := readFile(l.fsys, d.file)
	if p != nil {
		d.fileErr(p.msg, p.hint)
		return nil
	}
	l.keep(d.file, data)
	return parseFile(d, data)
}

func (l *loader) keep(file string, data []byte) {
	if l.sources == nil {
		l.sources = map[string][]byte{}
	}
	l.sources[file] = data
}

func stemOf(file string) string {
	return strings.TrimSuffix(path.Base(file), ".yaml")
}

// ---- kits --------------------------------------------------------------

// loadKit parses kits/NAME.yaml: kit: NAME plus app fields. A kit cannot
// start from another kit (its "kit" key is its own name); keeping kits one
// level deep keeps "where does this value come from" a two-file question.
func (l *loader) loadKit(file string) {
	d := &fileDecoder{c: &l.c, file: file, kind: "kit", host: host{l.obs}}
	k := &rawKit{name: stemOf(file), file: file}
	l.kits[k.name] = k
	root := l.open(d)
	if root == nil {
		return
	}
	es, ok := d.mapping(root, "", "a mapping", "")
	if !ok {
		return
	}
	k.parsed = true
	k.app = &rawApp{name: k.name, at: d.pos(root, ""), incomplete: hasMergeKey(root)}
	d.parseAppFields(k.app, es, true)
	d.checkOwnName(root, es, "kit", k.name)
}

// checkOwnName checks the tenant:/kit: key of a file against the file
// name.
func (d *fileDecoder) checkOwnName(root *yaml.Node, es []entry, key, stem string) {
	i := slices.IndexFunc(es, func(e entry) bool { return e.key == key })
	if i < 0 {
		ex := stem
		if !validName(ex) {
			ex = "NAME"
		}
		d.errAt(root, "", fmt.Sprintf("missing %q key", key), fmt.Sprintf("add %s: %s as the first line", key, ex))
		return
	}
	e := es[i]
	name, ok := d.text(e.v, e.path, fmt.Sprintf("write %s: %s", key, stem))
	if !ok {
		return
	}
	if p := checkName(key+" name", name); p != nil {
		if sug := suggestName(name); name == stem && sug != "" {
			p.hint += fmt.Sprintf(" and rename the file to %ss/%s.yaml", key, sug)
		}
		d.probAt(e.v, e.path, p)
		return
	}
	if why, ok := reservedTenants[name]; ok && key == "tenant" {
		d.errAt(e.v, e.path, fmt.Sprintf("tenant name %q is reserved: %s", name, why),
			fmt.Sprintf("choose another name, e.g. %q", name+"_site"))
		return
	}
	if name != stem {
		dir := key + "s"
		hint := fmt.Sprintf("rename the file to %s/%s.yaml", dir, name)
		if validName(stem) {
			hint += fmt.Sprintf(", or write %s: %s", key, stem)
		}
		d.errAt(e.v, e.path, fmt.Sprintf("%s %q does not match the file name %q", key, name, path.Base(d.file)), hint)
	}
}

// ---- tenants -----------------------------------------------------------

var tenantKeys = []string{"tenant", "suspended", "limits", "apps"}
var limitKeys = []string{"cpu", "memory", "tasks", "io_weight"}

func (l *loader) loadTenant(file string) {
	d := &fileDecoder{c: &l.c, file: file, kind: "tenant", host: host{l.obs}}
	t := &rawTenant{name: stemOf(file), file: file}
	l.tenants = append(l.tenants, t)
	root := l.open(d)
	if root == nil {
		return
	}
	es, ok := d.mapping(root, "", "a mapping", "")
	if !ok {
		return
	}
	d.checkOwnName(root, es, "tenant", t.name)
	for _, e := range es {
		switch e.key {
		case "tenant":
		case "suspended":
			t.suspended, _ = d.boolean(e.v, e.path)
		case "limits":
			d.limits(t, e)
		case "apps":
			d.apps(t, e)
		default:
			extra := map[string]string{}
			if slices.Contains(appKeys, e.key) {
				extra[e.key] = "app fields go under apps.NAME, e.g. apps: {web: {" + e.key + ": ...}}"
			}
			d.unknownKey(e, tenantKeys, extra)
		}
	}
}

// limits: every key optional; a zero Limits field means "not set".
func (d *fileDecoder) limits(t *rawTenant, e entry) {
	es, ok := d.mapping(e.v, e.path, "a mapping", "write limits: {cpu: 150%, memory: 1G, tasks: 512, io_weight: 100}")
	if !ok {
		return
	}
	for _, x := range es {
		switch x.key {
		case "cpu":
			s, ok := d.text(x.v, x.path, "write cpu: 150%")
			if !ok {
				continue
			}
			v, p := parsePercent("cpu", s)
			if p != nil {
				d.probAt(x.v, x.path, p)
				continue
			}
			if v < 1 || v > 100000 {
				d.errAt(x.v, x.path, fmt.Sprintf("cpu %q is out of range", s), "write 1% to 100000% (100% = one CPU)")
				continue
			}
			t.limits.CPUQuotaPercent = v
		case "memory":
			v, ok := d.size(&x)
			if ok {
				t.limits.MemoryMax = v
			}
		case "tasks":
			if v, ok := d.integer(x.v, x.path, 1, 1000000); ok {
				t.limits.Tasks = int(v)
			}
		case "io_weight":
			if v, ok := d.integer(x.v, x.path, 1, 10000); ok {
				t.limits.IOWeight = int(v)
			}
		default:
			d.unknownKey(x, limitKeys, map[string]string{"cpus": "did you mean \"cpu\"? e.g. cpu: 150%"})
		}
	}
}

func (d *fileDecoder) apps(t *rawTenant, e entry) {
	es, ok := d.mapping(e.v, e.path, "a mapping of app names to apps", "write apps: {web: {command: [...], listen: activation}}")
	if !ok {
		return
	}
	for _, x := range es {
		nameOK := true
		if p := checkName("app name", x.key); p != nil {
			d.probAt(x.k, x.path, p)
			nameOK = false
		}
		fields, ok := d.mapping(x.v, x.path, "a mapping of app fields", "write {command: [...], listen: activation}")
		if !ok {
			continue
		}
		a := &rawApp{name: x.key, at: d.pos(x.k, x.path), incomplete: hasMergeKey(x.v)}
		// The fields of a misnamed app are still checked, so that one
		// run reports everything; the app itself takes no part in the
		// rules across apps.
		d.parseAppFields(a, fields, false)
		if nameOK {
			t.apps = append(t.apps, a)
		}
	}
	slices.SortFunc(t.apps, func(a, b *rawApp) int { return strings.Compare(a.name, b.name) })
}

// ---- rules across files ------------------------------------------------

// Ownership decisions:
//   - A domain and every name below it belong to the tenant that claims
//     it: "x" owns x and everything under it, "*.x" everything under x. A
//     second tenant may never claim at or below another tenant's name,
//     exact or wildcard, and no manifest can delegate a name to another
//     tenant. Otherwise "*.x" beside another tenant's "x" would answer for
//     every name the owner does not list, and "a.x" beside another
//     tenant's "*.x" would win over it (exact names win): cookie tossing
//     and phishing under the owner's name.
//   - Within one tenant names may overlap freely, and several apps may
//     share a domain at different path: prefixes, but a (domain, path) has
//     one app. Across tenants a domain is refused even at another path, so
//     a tenant can never take over a path under another tenant's domain.
//   - Two overlapping claims of different tenants are reported at both,
//     each naming the other's file:line:col: neither file is the "right"
//     one, and the operators of both tenants need to see it.
func (l *loader) crossCheck() {
	type claim struct {
		tenant, app string
		where       string // "tenants/a.yaml:7:9" (+ " via kits/shop.yaml:4:12")
	}
	routeOwner := map[[3]string]claim{} // tenant, domain, path
	var claims []domainClaim
	// One certificate per name: the apps sharing a domain (at different
	// paths) must serve it with the same tls:.
	type tlsClaim struct {
		tls   TLS
		app   string
		where string
	}
	domainTLS := map[[2]string]tlsClaim{} // tenant, domain

	for _, t := range l.tenants {
		d := &fileDecoder{c: &l.c, file: t.file, kind: "tenant", host: host{l.obs}}
		// Claims are judged in file order, so the "first" claim is the
		// one written first; t.apps and t.merged stay sorted by name.
		order := make([]int, len(t.apps))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(i, j int) int {
			return cmp.Or(cmp.Compare(t.apps[i].at.line, t.apps[j].at.line), cmp.Compare(t.apps[i].at.col, t.apps[j].at.col))
		})
		t.merged = make([]*rawApp, len(t.apps))
		for _, i := range order {
			a := t.apps[i]
			m, complete := l.resolveKit(d, t, a)
			t.merged[i] = m
			if !complete {
				continue
			}
			l.checkApp(d, t, a, m)

			// locate turns a value's position into one in the tenant's
			// file: values from a kit are reported at the app's kit: key.
			locate := func(at pos) (pos, string) {
				if at.file == t.file {
					return at, at.String()
				}
				return a.kit.at, a.kit.at.String() + " via " + at.String()
			}
			// Ownership does not depend on the path, so a bad path does
			// not hide a domain from it.
			for _, dom := range m.domains.val {
				at, where := locate(dom.at)
				claims = append(claims, domainClaim{t.name, a.name, where, dom.name, at})
			}
			if m.path.set && !m.path.ok {
				continue
			}
			routePath := DefaultPath
			if m.path.set {
				routePath = m.path.val
			}
			for _, dom := range m.domains.val {
				at, where := locate(dom.at)
				key := [3]string{t.name, dom.name, routePath}
				if c, ok := routeOwner[key]; ok {
					d.c.add(Finding{File: at.file, Line: at.line, Col: at.col, Path: at.path,
						Message: fmt.Sprintf("domain %q with path %q is already routed to app %q (%s)", dom.name, routePath, c.app, c.where),
						Hint:    "give one of the apps another path:, or remove the domain from one of them"})
					continue
				}
				routeOwner[key] = claim{t.name, a.name, where}
				if m.tls.set && !m.tls.ok {
					continue
				}
				tls := m.tls.val
				if !m.tls.set {
					tls = TLS{Mode: TLSAuto}
				}
				dk := [2]string{t.name, dom.name}
				if c, ok := domainTLS[dk]; !ok {
					domainTLS[dk] = tlsClaim{tls, a.name, where}
				} else if c.tls != tls {
					d.c.add(Finding{File: at.file, Line: at.line, Col: at.col, Path: at.path,
						Message: fmt.Sprintf("domain %q is served by app %q (%s) with another tls: setting; one name has one certificate", dom.name, c.app, c.where),
						Hint:    "write the same tls: in every app that lists the domain (a kit can hold it)"})
				}
			}
		}
	}
	l.checkDomainOwners(claims)
}

// domainClaim is one domain of one app, placed in the tenant's file.
type domainClaim struct {
	tenant, app string
	where       string // as in crossCheck's claim
	name        string // normalised; "*.x" for a wildcard
	at          pos
}

// maxOverlapsPerClaim bounds the pairs looked at for one claim: a file
// shows at most maxFindingsPerFile findings anyway, and a directory in
// which thousands of tenants claim one name must not take quadratic time.
const maxOverlapsPerClaim = maxFindingsPerFile

// checkDomainOwners reports every pair of claims of different tenants in
// which one is at or below the other. Each claim looks up its own base
// name and every ancestor of it, so a pair is found once: from its lower
// claim, or from the later one when both have the same base.
func (l *loader) checkDomainOwners(claims []domainClaim) {
	byBase := map[string][]int{}
	for i, c := range claims {
		b := domainBase(c.name)
		byBase[b] = append(byBase[b], i)
	}
	for i, c := range claims {
		b := domainBase(c.name)
		found := 0
		for n := b; found < maxOverlapsPerClaim; {
			for _, j := range byBase[n] {
				if claims[j].tenant == c.tenant || (n == b && j >= i) {
					continue
				}
				l.reportOverlap(claims[j], c)
				l.reportOverlap(c, claims[j])
				if found++; found == maxOverlapsPerClaim {
					break
				}
			}
			dot := strings.IndexByte(n, '.')
			if dot < 0 {
				break
			}
			n = n[dot+1:]
		}
	}
}

// domainBase is the name a claim owns from: "*.x" and "x" both from x.
func domainBase(name string) string {
	return strings.TrimPrefix(name, "*.")
}

// reportOverlap places the finding of one overlapping pair at c, naming
// the other claim o.
func (l *loader) reportOverlap(c, o domainClaim) {
	if l.c.full(c.at.file) {
		return
	}
	cb, ob := domainBase(c.name), domainBase(o.name)
	var msg string
	switch {
	case c.name == o.name:
		msg = fmt.Sprintf("domain %q is also claimed by tenant %q app %q (%s)", c.name, o.tenant, o.app, o.where)
	case strings.HasSuffix(cb, "."+ob) || (cb == ob && c.name != cb): // "*.x" is under "x"
		msg = fmt.Sprintf("domain %q is under %q, which tenant %q app %q claims (%s)", c.name, o.name, o.tenant, o.app, o.where)
	default:
		msg = fmt.Sprintf("domain %q covers %q, which tenant %q app %q claims (%s)", c.name, o.name, o.tenant, o.app, o.where)
	}
	l.c.add(Finding{File: c.at.file, Line: c.at.line, Col: c.at.col, Path: c.at.path, Message: msg,
		Hint: "a domain and every name below it belong to one tenant; remove one of the two claims, or serve both from one tenant"})
}

// resolveKit merges the app's kit. complete is false when the merged app
// cannot be judged as a whole (unknown or unreadable kit), so that one
// mistake does not cascade into "missing command" and the like.
func (l *loader) resolveKit(d *fileDecoder, t *rawTenant, a *rawApp) (m *rawApp, complete bool) {
	if !a.kit.set {
		return a, !a.incomplete
	}
	if !a.kit.ok {
		return a, false
	}
	k := l.kits[a.kit.val]
	if k == nil {
		want := "kits/" + a.kit.val + ".yaml"
		hint := "create " + want + ", or correct the kit name"
		if yml := l.ymlKits[a.kit.val]; yml != "" {
			hint = "rename " + yml + " to " + want
		}
		d.c.add(Finding{File: t.file, Line: a.kit.at.line, Col: a.kit.at.col, Path: a.kit.at.path,
			Message: fmt.Sprintf("unknown kit %q: %s does not exist", a.kit.val, want), Hint: hint})
		return a, false
	}
	if !k.parsed {
		return a, false
	}
	return merge(a, k.app), !a.incomplete && !k.app.incomplete
}

// checkApp applies the rules that need the merged app. Two findings are
// warnings, not errors: an app without domains (valid, e.g. while a
// domain is being moved, but the router never starts it) and an app memory
// above the tenant's limits.memory (valid: the tenant's slice caps it
// anyway).
func (l *loader) checkApp(d *fileDecoder, t *rawTenant, a, m *rawApp) {
	at := a.at
	inKit := ""
	if a.kit.set {
		inKit = fmt.Sprintf(" nor its kit %q", a.kit.val)
	}
	add := func(sev Severity, msg, hint string) {
		d.c.add(Finding{Severity: sev, File: at.file, Line: at.line, Col: at.col, Path: at.path, Message: msg, Hint: hint})
	}
	if !m.command.set {
		who := "app has no command"
		if inKit != "" {
			who = "neither the app" + inKit + " sets command"
		}
		add(Error, who, "add command: [/absolute/path/to/program, args...]")
	}
	if !m.listen.set && !m.port.set {
		who := "app has neither listen nor port"
		if inKit != "" {
			who = "neither the app" + inKit + " sets listen or port"
		}
		add(Error, who, "add listen: activation (the app takes its socket from systemd) or port: 8080 (the app binds 127.0.0.1:8080 itself)")
	}
	if !m.domains.set || (m.domains.ok && len(m.domains.val) == 0) {
		add(Warning, "app has no domains; the router will send it no requests", "add domains: [example.com]")
	}
	// addAt reports at a value's position, or at the app's kit: key when
	// the value comes from the kit (the finding is about this tenant).
	addAt := func(sev Severity, w pos, msg, hint string) {
		if w.file != t.file {
			w = a.kit.at
		}
		d.c.add(Finding{Severity: sev, File: w.file, Line: w.line, Col: w.col, Path: w.path, Message: msg, Hint: hint})
	}
	// An egress list puts the app in the host's network namespace
	// (docs/DESIGN.md "Network"). A port app's listener would sit on the
	// host's loopback there, where any local process can reach it or
	// take its port while the app is stopped, and a unix socket there
	// reaches every abstract socket on the host: both are refused.
	if m.egress.set && m.egress.ok && m.egress.val != nil {
		if m.port.set {
			addAt(Error, m.egress.at,
				fmt.Sprintf("a port app cannot have an egress list: it would listen on the host's loopback, where other local processes could reach port %d or take it while the app is stopped", m.port.val),
				"take the socket from systemd (listen: activation) to reach the network, or keep egress: none")
		}
		if m.watchdog.set && m.watchdog.ok {
			addAt(Error, m.watchdog.at,
				"watchdog: needs a unix socket (systemd's notify socket), which an app with an egress list may not have: in the host's network namespace it would reach every abstract socket of the host and of other apps",
				"remove watchdog, or use it with egress: none")
		}
		if m.connect.set && m.connect.ok && len(m.connect.val) > 0 {
			addAt(Error, m.connect.at,
				"connect: needs unix sockets, which an app with an egress list may not have: in the host's network namespace they would reach every abstract socket of the host and of other apps",
				"reach the service over TCP by listing its address in egress (e.g. 127.0.0.1/32), or use connect: with egress: none")
		}
	}
	if m.watchdog.set && m.watchdog.ok && m.restart.set && m.restart.ok && (m.restart.val == "no" || m.restart.val == "on-success") {
		addAt(Warning, m.watchdog.at,
			fmt.Sprintf("watchdog with restart: %s: systemd stops a hung app but does not start it again", m.restart.val),
			"write restart: on-failure (the default) or on-watchdog")
	}
	// HTTPS (docs/MANIFEST.md "HTTPS").
	tlsMode := TLSAuto
	if m.tls.set && m.tls.ok {
		tlsMode = m.tls.val.Mode
	}
	if m.hsts.set && m.hsts.ok && m.hsts.val && tlsMode == TLSOff {
		addAt(Error, m.hsts.at, "hsts: true with tls: off: HSTS is sent on HTTPS responses, and this app has none",
			"remove hsts, or serve the app over HTTPS (tls: auto or tls: {cert, key})")
	}
	if tlsMode == TLSAuto && m.domains.set && m.domains.ok {
		for _, dm := range m.domains.val {
			if strings.HasPrefix(dm.name, "*.") && PublicName(dm.name) {
				addAt(Warning, dm.at,
					fmt.Sprintf("wildcard domain %q gets no certificate with tls: auto (issuing one needs a DNS-01 challenge, which Ehecoatl does not do): it is served over plain HTTP only", dm.name),
					"install a wildcard certificate under /etc/ehecoatl/certs/"+t.name+"/ and write tls: {cert: FILE, key: FILE}, or write tls: off")
			}
		}
	}
	if m.memory.set && m.memory.ok && t.limits.MemoryMax > 0 && m.memory.val > t.limits.MemoryMax {
		addAt(Warning, m.memory.at,
			fmt.Sprintf("app memory %d bytes exceeds the tenant's limits.memory %d bytes; the tenant's limit applies first", m.memory.val, t.limits.MemoryMax),
			"lower the app's memory or raise limits.memory")
	}
}

// ---- result ------------------------------------------------------------

func (l *loader) build(dir string) *Set {
	s := &Set{Dir: dir, Tenants: []*Tenant{}, Kits: []*Kit{}, Routes: []Route{}}
	for _, name := range slices.Sorted(maps.Keys(l.kits)) {
		k := l.kits[name]
		s.Kits = append(s.Kits, &Kit{Name: k.name, File: k.file, Source: l.sources[k.file]})
	}
	for _, t := range l.tenants {
		out := &Tenant{Name: t.name, File: t.file, Source: l.sources[t.file], Limits: t.limits, Suspended: t.suspended, Apps: []*App{}}
		for _, m := range t.merged {
			a := m.build(t.name, t.file)
			out.Apps = append(out.Apps, a)
			for _, dom := range a.Domains {
				s.Routes = append(s.Routes, Route{Domain: dom, Path: a.Path, Tenant: t.name, App: a.Name, File: t.file})
			}
		}
		s.Tenants = append(s.Tenants, out)
	}
	slices.SortFunc(s.Routes, func(a, b Route) int {
		if c := strings.Compare(a.Domain, b.Domain); c != 0 {
			return c
		}
		return strings.Compare(a.Path, b.Path)
	})
	return s
}
