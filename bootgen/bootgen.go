// Package bootgen is the systemd generator (systemd.generator(7)) behind
// cmd/ehecoatl-generator: at every boot and daemon-reload it renders the
// installed manifests with package generator, as `ehecoatl apply` does,
// and keeps one bad tenant from costing the others their units
// (docs/DESIGN.md "Units come from the systemd generator"). It is apart
// from the translator because it is a program's driver: logging to the
// kernel, reading the host, deciding what to skip.
package bootgen

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/ehecoatl/ehecoatl/generator"
	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/naming"
	"github.com/ehecoatl/ehecoatl/stops"
)

// maxManifestFile bounds what the generator reads of one manifest in its
// fallback path: it runs at every boot, before anything else can help.
const maxManifestFile = 4 << 20

// SystemdGenerator is the systemd.generator(7) behind ehecoatl-generator:
// it renders the installed manifests into the generator's output directory
// at every boot and daemon-reload, like Podman's Quadlet.
//
// It never fails the boot over one bad tenant. When the whole directory
// loads cleanly (the normal case: apply installs only valid directories) it
// renders everything. Otherwise it loads every kit and every tenant file on
// its own, skips the files that fail, then loads the good ones together and
// skips both tenants of every cross-file conflict (a domain claimed twice),
// until the rest loads cleanly. Each skipped tenant is logged with its
// reason.
type SystemdGenerator struct {
	// Root is prepended to naming.ManifestDir; "" is the real root. Set
	// from EHECOATL_ROOT by RunSystemdGenerator, for tests.
	Root string
	// Options of the rendering, completed by Options.ForHost as apply's
	// are: SourceDir defaults to naming.ManifestDir (the path as systemd
	// sees it, without Root).
	Options generator.Options
	// Log receives one message per call, without prefix or newline. The
	// default writes "<3>ehecoatl-generator: MSG" lines to /dev/kmsg,
	// or "ehecoatl-generator: MSG" lines to stderr when /dev/kmsg cannot
	// be opened for writing.
	Log func(msg string)
}

// Skipped is a manifest file the generator could not render.
type Skipped struct {
	// File relative to the manifest directory ("tenants/acme.yaml").
	File string
	// Reason, one line per finding.
	Reason string
}

// RunSystemdGenerator implements systemd.generator(7) for
// cmd/ehecoatl-generator: args are the normal, early and late output
// directories (only the first is used; a single directory is accepted for
// manual runs). The manifests are read under $EHECOATL_ROOT/etc/ehecoatl.
func RunSystemdGenerator(args []string) error {
	return SystemdGenerator{Root: os.Getenv("EHECOATL_ROOT")}.Run(args)
}

// Run writes the units into args[0]. It returns an error only when it
// cannot work at all (bad arguments, unwritable output directory); bad
// tenants are logged and skipped.
func (g SystemdGenerator) Run(args []string) error {
	if len(args) != 1 && len(args) != 3 {
		return fmt.Errorf("ehecoatl-generator: want 3 arguments (normal, early and late output directories), got %d", len(args))
	}
	log := g.Log
	if log == nil {
		w, closeLog := openLog()
		defer closeLog()
		log = func(msg string) { writeLog(w, msg) }
	}
	g.Log = log
	// Before the manifests: the router serves its metrics with no tenant
	// installed as well.
	if err := g.writeMetrics(args[0]); err != nil {
		return err
	}
	set, skipped := g.Load()
	for _, s := range skipped {
		lines := strings.Split(s.Reason, "\n")
		if len(lines) > maxLogLines {
			lines = append(lines[:maxLogLines], fmt.Sprintf("... and %d more problems", len(lines)-maxLogLines))
		}
		for _, l := range lines {
			log(fmt.Sprintf("skipped %s: %s", s.File, l))
		}
	}
	if set == nil {
		return nil
	}
	if g.LegacyEnv(set) {
		g.Options.CommandInUnit = true
		log("the installed env files hold no " + naming.ArgsVar + " (an older Ehecoatl installed them): the commands are rendered into the units until the next ehecoatl apply")
	}
	out, err := g.render(set)
	if err != nil {
		return err
	}
	// The operator's stops hold across reboots: their sockets are not
	// wanted by ehecoatl.target. An unreadable record is logged and, as
	// nothing better is known, ignored.
	rec, err := stops.Load(filepath.Join(g.Root, filepath.FromSlash(naming.StopsFile)))
	if err != nil {
		log(err.Error())
	}
	generator.Hold(out, rec.Stopped)
	if err := generator.WriteDir(out, args[0]); err != nil {
		return fmt.Errorf("ehecoatl-generator: %w", err)
	}
	return nil
}

// LegacyEnv reports whether the installed env files are an older
// Ehecoatl's, which carry no arguments in naming.ArgsVar (none at all, or
// the EHECOATL_ARGV_* of the launcher, cmd/ehecoatl-exec): the first
// app's is missing or has no EHECOATL_ARGS line. One apply installs every
// env file of a generation, so the first app speaks for all. After a
// package upgrade the apps then keep starting with the commands in their
// units, and the next apply, whose rendering differs, installs new env
// files and reloads.
func (g SystemdGenerator) LegacyEnv(set *manifest.Set) bool {
	for _, t := range set.Tenants {
		for _, a := range t.Apps {
			p := filepath.Join(g.Root, filepath.FromSlash(naming.ManifestDir), filepath.FromSlash(naming.EnvFileRel(a.Tenant, a.Name)))
			b, err := os.ReadFile(p)
			if err != nil {
				return true
			}
			return !bytes.HasPrefix(b, []byte(argsLine)) && !bytes.Contains(b, []byte("\n"+argsLine))
		}
	}
	return false
}

// argsLine starts the env-file line of the command's arguments.
const argsLine = naming.ArgsVar + "="

// opts are the rendering options with the defaults apply renders with.
func (g SystemdGenerator) opts() generator.Options { return g.Options.ForHost() }

// Replaced in tests: a validated set always renders, so only a bug in
// validation makes a tenant fail here.
var (
	generate     = generator.Generate
	renderTenant = generator.RenderTenant
)

// render renders the set; a tenant that cannot be rendered (a
// generator.InvariantError: a bug in validation) is logged and skipped,
// so that one such tenant does not take every other tenant down at boot.
func (g SystemdGenerator) render(set *manifest.Set) (*generator.Output, error) {
	opts := g.opts()
	out, err := generate(set, opts)
	if err == nil {
		return out, nil
	}
	out, rerr := generator.RootFiles(opts)
	if rerr != nil {
		// Bad options: nothing can be rendered.
		return nil, fmt.Errorf("ehecoatl-generator: %w", rerr)
	}
	for _, t := range set.Tenants {
		to, err := renderTenant(t, opts)
		if err != nil {
			g.Log(fmt.Sprintf("skipped %s: %v", t.File, err))
			continue
		}
		out.Merge(to)
	}
	return out, nil
}

// Load reads the manifests under Root+naming.ManifestDir and returns the set of
// the tenants that can be rendered (nil when there is no manifest
// directory) and the files it skipped.
func (g SystemdGenerator) Load() (*manifest.Set, []Skipped) {
	dir := filepath.Join(g.Root, filepath.FromSlash(naming.ManifestDir))
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	set, rep := manifest.Load(dir)
	if !rep.HasErrors() && set != nil {
		return set, nil
	}
	set, skipped := loadGood(os.DirFS(dir), dir)
	sort.SliceStable(skipped, func(i, j int) bool { return skipped[i].File < skipped[j].File })
	return set, skipped
}

// loadGood is the fallback of Load: it finds the largest set of tenant
// files that loads cleanly, file by file (see SystemdGenerator).
func loadGood(fsys fs.FS, label string) (*manifest.Set, []Skipped) {
	var skipped []Skipped
	skip := func(file, reason string) {
		skipped = append(skipped, Skipped{File: file, Reason: strings.TrimRight(reason, "\n")})
	}
	kits, tenants := map[string][]byte{}, map[string][]byte{}
	for _, sub := range []struct {
		dir   string
		files map[string][]byte
	}{{"kits", kits}, {"tenants", tenants}} {
		ents, err := fs.ReadDir(fsys, sub.dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			skip(sub.dir, err.Error())
		}
		for _, e := range ents {
			name := path.Join(sub.dir, e.Name())
			if e.IsDir() {
				continue
			}
			b, err := readLimited(fsys, name)
			if err != nil {
				skip(name, err.Error())
				continue
			}
			sub.files[name] = b
		}
	}
	load := func(files ...map[string][]byte) (*manifest.Set, *manifest.Report) {
		m := memFS{}
		for _, f := range files {
			for n, b := range f {
				m[n] = b
			}
		}
		return manifest.LoadFS(m, label)
	}
	// Kits on their own: only findings in the kit file itself count (a
	// directory without tenants may be reported too).
	goodKits := map[string][]byte{}
	var badKits []string
	for _, name := range sortedNames(kits) {
		_, rep := load(map[string][]byte{name: kits[name]})
		if errs := errorsIn(rep, name); errs != "" {
			skip(name, errs)
			badKits = append(badKits, name)
			continue
		}
		goodKits[name] = kits[name]
	}
	// Tenants on their own, with the good kits.
	good := map[string][]byte{}
	sets := map[string]*manifest.Set{}
	for _, name := range sortedNames(tenants) {
		set, rep := load(goodKits, map[string][]byte{name: tenants[name]})
		if rep.HasErrors() || set == nil {
			reason := errorLines(rep)
			for _, k := range badKits {
				// The skipped kit changes what is wrong with the
				// tenant's own file: it is one of the tenant's kits.
				_, with := load(goodKits, map[string][]byte{k: kits[k], name: tenants[name]})
				if errorsIn(with, name) != errorsIn(rep, name) {
					reason += "\n" + k + " exists but was skipped: it is invalid"
				}
			}
			skip(name, reason)
			continue
		}
		good[name] = tenants[name]
		sets[name] = set
	}
	// Together: what fails now is a conflict between files, reported in
	// each file involved (docs/MANIFEST.md "Rules across files"). Skip
	// every tenant with a finding of its own and try again.
	for len(good) > 0 {
		set, rep := load(goodKits, good)
		if !rep.HasErrors() && set != nil {
			return set, skipped
		}
		involved := map[string][]string{}
		for _, f := range rep.Findings {
			if f.Severity != manifest.Error {
				continue
			}
			if _, ok := good[f.File]; ok {
				involved[f.File] = append(involved[f.File], f.String())
			}
		}
		if len(involved) == 0 {
			// Not attributable to files: fall back to the generator's
			// own conflict rule, a domain claimed by two tenants.
			for name, lines := range domainConflicts(sets, good) {
				involved[name] = lines
			}
		}
		if len(involved) == 0 {
			// Problems no tenant can be blamed for: every remaining
			// tenant is valid on its own, and no unit depends on another
			// tenant, so render them from their own sets.
			skip("(directory)", errorLines(rep))
			return joinSets(label, sets, good), skipped
		}
		for _, name := range slices.Sorted(maps.Keys(involved)) {
			skip(name, strings.Join(involved[name], "\n"))
			delete(good, name)
		}
	}
	// Nothing left: an empty set still renders the root slice.
	return &manifest.Set{Dir: label}, skipped
}

// joinSets merges the single-tenant sets of the given files.
func joinSets(label string, sets map[string]*manifest.Set, files map[string][]byte) *manifest.Set {
	out := &manifest.Set{Dir: label}
	for _, name := range sortedNames(files) {
		s := sets[name]
		out.Tenants = append(out.Tenants, s.Tenants...)
		out.Routes = append(out.Routes, s.Routes...)
	}
	sort.Slice(out.Tenants, func(i, j int) bool { return out.Tenants[i].Name < out.Tenants[j].Name })
	sort.SliceStable(out.Routes, func(i, j int) bool {
		if out.Routes[i].Domain != out.Routes[j].Domain {
			return out.Routes[i].Domain < out.Routes[j].Domain
		}
		return out.Routes[i].Path < out.Routes[j].Path
	})
	return out
}

// domainConflicts returns the tenants whose domains another tenant claims
// too, with a message naming both files.
func domainConflicts(sets map[string]*manifest.Set, good map[string][]byte) map[string][]string {
	owners := map[string][]string{} // domain -> tenant files
	for name := range good {
		seen := map[string]bool{}
		for _, r := range sets[name].Routes {
			if !seen[r.Domain] {
				seen[r.Domain] = true
				owners[r.Domain] = append(owners[r.Domain], name)
			}
		}
	}
	out := map[string][]string{}
	for _, d := range slices.Sorted(maps.Keys(owners)) {
		files := owners[d]
		if len(files) < 2 {
			continue
		}
		sort.Strings(files)
		for _, f := range files {
			out[f] = append(out[f], fmt.Sprintf("domain %q is claimed by %s", d, strings.Join(files, " and ")))
		}
	}
	return out
}

// errorsIn returns the error findings of one file, one per line.
func errorsIn(rep *manifest.Report, file string) string {
	if rep == nil {
		return ""
	}
	var lines []string
	for _, f := range rep.Findings {
		if f.Severity == manifest.Error && f.File == file {
			lines = append(lines, f.String())
		}
	}
	return strings.Join(lines, "\n")
}

// errorLines returns every error finding, one per line.
func errorLines(rep *manifest.Report) string {
	if rep == nil {
		return "no manifest set"
	}
	var lines []string
	for _, f := range rep.Findings {
		if f.Severity == manifest.Error {
			lines = append(lines, f.String())
		}
	}
	if len(lines) == 0 {
		return "no manifest set"
	}
	return strings.Join(lines, "\n")
}

func readLimited(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxManifestFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxManifestFile {
		return nil, fmt.Errorf("larger than %d bytes", maxManifestFile)
	}
	return b, nil
}

func sortedNames(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// maxLogLines bounds the lines logged per skipped file: /dev/kmsg
// rate-limits its writers, and the first problems are the useful ones.
const maxLogLines = 5

// kmsgMax keeps a record well below the kernel's limit for one /dev/kmsg
// write (about 1 KiB of text is shown in full everywhere).
const kmsgMax = 900

// openLog opens /dev/kmsg for writing, or falls back to stderr.
func openLog() (w logWriter, closeFn func()) {
	f, err := os.OpenFile("/dev/kmsg", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return logWriter{w: os.Stderr}, func() {}
	}
	return logWriter{w: f, kmsg: true}, func() { f.Close() }
}

type logWriter struct {
	w    io.Writer
	kmsg bool
}

// writeLog writes one record per line of msg (the kernel makes one record
// of each write). Priority 3 (error) marks the lines in `dmesg` and the
// journal.
func writeLog(lw logWriter, msg string) {
	for _, line := range strings.Split(msg, "\n") {
		if len(line) > kmsgMax {
			line = line[:kmsgMax] + "..."
		}
		if lw.kmsg {
			line = "<3>ehecoatl-generator: " + line + "\n"
		} else {
			line = "ehecoatl-generator: " + line + "\n"
		}
		if _, err := io.WriteString(lw.w, line); err != nil && lw.kmsg {
			// A full or rate-limited kmsg: stderr still reaches the
			// console or journal.
			io.WriteString(os.Stderr, line[3:])
		}
	}
}
