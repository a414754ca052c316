package bootgen

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/ehecoatl/ehecoatl/generator"
	"github.com/ehecoatl/ehecoatl/internal/linediff"
	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/naming"
	"github.com/ehecoatl/ehecoatl/routerenv"
)

// installManifests copies a manifest directory to ROOT/etc/ehecoatl, as
// `ehecoatl apply` installs it, with the env files of its rendering when
// the directory is valid, and returns ROOT.
func installManifests(t *testing.T, src string) string {
	t.Helper()
	root := t.TempDir()
	dst := filepath.Join(root, "etc", "ehecoatl")
	if set, rep := manifest.Load(src); !rep.HasErrors() {
		out, err := generator.Generate(set, generator.Options{SourceDir: naming.ManifestDir})
		if err != nil {
			t.Fatal(err)
		}
		for rel, b := range out.Env {
			writeFile(t, filepath.Join(dst, rel), string(b))
		}
	}
	for _, sub := range []string{"tenants", "kits"} {
		ents, err := os.ReadDir(filepath.Join(src, sub))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dst, sub), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(src, sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dst, sub, e.Name()), string(b))
		}
	}
	return root
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tree describes a directory: regular files with their content, symbolic
// links as "-> target", directories as "/".
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case rel == ".":
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			m[rel] = "-> " + target
		case d.IsDir():
			m[rel] = "/"
		default:
			st, err := os.Stat(p)
			if err != nil {
				return err
			}
			if st.Mode().Perm() != 0o644 {
				t.Errorf("%s: mode %v, want 0644", rel, st.Mode().Perm())
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			m[rel] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func compareTrees(t *testing.T, got, want map[string]string) {
	t.Helper()
	var names []string
	for n := range want {
		names = append(names, n)
	}
	for n := range got {
		if _, ok := want[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		g, gok := got[n]
		w, wok := want[n]
		switch {
		case !gok:
			t.Errorf("%s: missing", n)
		case !wok:
			t.Errorf("%s: unexpected", n)
		case g != w:
			t.Errorf("%s differs:\n%s", n, linediff.Lines(w, g))
		}
	}
}

// expectedTree is what Generate + WriteDir produce for the manifests in
// src with the generator's options.
func expectedTree(t *testing.T, src string) map[string]string {
	t.Helper()
	set, rep := manifest.Load(src)
	if rep.HasErrors() {
		t.Fatal(rep)
	}
	out, err := generator.Generate(set, generator.Options{SourceDir: naming.ManifestDir})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := generator.WriteDir(out, dir); err != nil {
		t.Fatal(err)
	}
	writeDefaultMetrics(t, dir)
	return tree(t, dir)
}

// writeDefaultMetrics writes the metrics socket of a host without
// EHECOATL_METRICS_LISTEN.
func writeDefaultMetrics(t *testing.T, dir string) {
	t.Helper()
	m, err := routerenv.ParseMetrics("")
	if err != nil {
		t.Fatal(err)
	}
	out, err := generator.MetricsSocket(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := generator.WriteUnits(out, dir); err != nil {
		t.Fatal(err)
	}
}

// genDirs returns the normal, early and late directories systemd passes.
func genDirs(t *testing.T) []string {
	base := t.TempDir()
	var dirs []string
	for _, n := range []string{"normal", "early", "late"} {
		d := filepath.Join(base, n)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	return dirs
}

// TestRunSystemdGenerator runs the generator as systemd does (three
// directories, manifests below EHECOATL_ROOT): the normal directory must
// hold exactly what Generate + WriteDir write for the same manifests.
func TestRunSystemdGenerator(t *testing.T) {
	root := installManifests(t, "../examples")
	t.Setenv("EHECOATL_ROOT", root)
	dirs := genDirs(t)
	if err := RunSystemdGenerator(dirs); err != nil {
		t.Fatal(err)
	}
	got := tree(t, dirs[0])
	compareTrees(t, got, expectedTree(t, "../examples"))
	if len(got) < 10 {
		t.Fatalf("only %d entries generated", len(got))
	}
	for _, d := range dirs[1:] {
		if m := tree(t, d); len(m) != 0 {
			t.Errorf("%s: written to (%v); only the normal directory is used", d, m)
		}
	}
	// A second run over the same directory (daemon-reload reuses fresh
	// directories, but apply may not) gives the same tree.
	if err := RunSystemdGenerator(dirs); err != nil {
		t.Fatal(err)
	}
	compareTrees(t, tree(t, dirs[0]), got)
}

// TestLegacyEnv: env files installed by an Ehecoatl before the launcher
// hold no command (and apps without env had none); until the next apply
// the units keep the commands, as they had, instead of failing every app
// at its next start.
func TestLegacyEnv(t *testing.T) {
	root := installManifests(t, "../examples")
	envDir := filepath.Join(root, "etc/ehecoatl/env")
	var l logs
	g := SystemdGenerator{Root: root, Log: l.log}
	dir := t.TempDir()
	if err := g.Run([]string{dir}); err != nil {
		t.Fatal(err)
	}
	exec := func(unit string) string {
		b, err := os.ReadFile(filepath.Join(dir, unit))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "ExecStart=") {
				return line
			}
		}
		return ""
	}
	const unit = "ehecoatl-acme-web.service"
	current := exec(unit)
	if !strings.HasPrefix(current, "ExecStart=/") || !strings.HasSuffix(current, " $"+naming.ArgsVar) || l.contains("hold no") {
		t.Fatalf("with current env files: %s, log %q", current, l.lines)
	}
	// What older Ehecoatls installed: the launcher's release, the command
	// one variable per word; the one before, env files only for apps with
	// env and without the command. Either way the units carry the whole
	// command until the next apply.
	for _, c := range []struct{ name, env string }{
		{"the launcher's", "EHECOATL_ARGV_0=\"/usr/bin/python3\"\nEHECOATL_ARGV_1=\"/srv/acme/app.py\"\nSHOP_MODE=\"prod\"\n"},
		{"the one before", "SHOP_MODE=\"prod\"\n"},
	} {
		l.lines = nil
		if err := os.RemoveAll(envDir); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(envDir, "acme/web.env"), c.env)
		dir = t.TempDir()
		if err := g.Run([]string{dir}); err != nil {
			t.Fatal(err)
		}
		if got := exec(unit); strings.Contains(got, "$"+naming.ArgsVar) || !strings.Contains(got, " -c ") || !strings.HasPrefix(got, "ExecStart=/") || got == current || !l.contains("hold no "+naming.ArgsVar) {
			t.Errorf("with %s env files: %s, log %q", c.name, got, l.lines)
		}
	}
}

// logs collects the generator's log messages.
type logs struct{ lines []string }

func (l *logs) log(msg string) { l.lines = append(l.lines, msg) }

func (l *logs) contains(s string) bool {
	for _, x := range l.lines {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}

// TestSystemdGeneratorSkipsBadTenants: one tenant with an error, one with an
// unknown kit, one whose kit is broken, two that claim the same domain and
// a misnamed file: all of them are skipped and reported, the examples'
// tenants are still generated exactly as without them.
func TestSystemdGeneratorSkipsBadTenants(t *testing.T) {
	root := installManifests(t, "../examples")
	m := filepath.Join(root, "etc", "ehecoatl")
	writeFile(t, filepath.Join(m, "tenants", "broken.yaml"), "tenant: broken\napps:\n  web:\n    command: [/bin/true]\n    listen: activation\n    domains: [broken.example.test]\n    egres: none\n")
	writeFile(t, filepath.Join(m, "tenants", "nokit.yaml"), "tenant: nokit\napps:\n  web:\n    kit: missing\n    domains: [nokit.example.test]\n")
	writeFile(t, filepath.Join(m, "kits", "badkit.yaml"), "kit: badkit\ncommand: relative/path\nlisten: activation\n")
	writeFile(t, filepath.Join(m, "tenants", "usesbad.yaml"), "tenant: usesbad\napps:\n  web:\n    kit: badkit\n    domains: [usesbad.example.test]\n")
	writeFile(t, filepath.Join(m, "tenants", "first.yaml"), "tenant: first\napps:\n  web:\n    command: [/bin/true]\n    listen: activation\n    domains: [shared.example.test]\n")
	writeFile(t, filepath.Join(m, "tenants", "second.yaml"), "tenant: second\napps:\n  web:\n    command: [/bin/true]\n    listen: activation\n    domains: [other.example.test, shared.example.test]\n")
	writeFile(t, filepath.Join(m, "tenants", "typo.yml"), "tenant: typo\n")

	var l logs
	g := SystemdGenerator{Root: root, Log: l.log}
	set, skipped := g.Load()
	if set == nil {
		t.Fatal("no set")
	}
	var names []string
	for _, s := range skipped {
		names = append(names, s.File)
	}
	want := []string{"kits/badkit.yaml", "tenants/broken.yaml", "tenants/first.yaml", "tenants/nokit.yaml", "tenants/second.yaml", "tenants/typo.yml", "tenants/usesbad.yaml"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("skipped %v, want %v", names, want)
	}

	dirs := genDirs(t)
	if err := g.Run(dirs); err != nil {
		t.Fatal(err)
	}
	compareTrees(t, tree(t, dirs[0]), expectedTree(t, "../examples"))
	for _, s := range []string{
		"skipped tenants/broken.yaml: tenants/broken.yaml:7:5 apps.web.egres: unknown key \"egres\"",
		"skipped tenants/first.yaml: ",
		"skipped tenants/second.yaml: tenants/second.yaml:",
		"shared.example.test",
		"skipped kits/badkit.yaml: kits/badkit.yaml:",
		"skipped tenants/usesbad.yaml: kits/badkit.yaml exists but was skipped: it is invalid",
		"skipped tenants/nokit.yaml: ",
		"skipped tenants/typo.yml: ",
	} {
		if !l.contains(s) {
			t.Errorf("no log line contains %q; log:\n%s", s, strings.Join(l.lines, "\n"))
		}
	}
	for _, x := range l.lines {
		if strings.Contains(x, "\n") {
			t.Errorf("log message spans lines: %q", x)
		}
	}
}

// TestSystemdGeneratorAllBad: when no tenant can be loaded, the root slice
// and target are still written (so units that name them keep loading) and
// nothing else.
func TestSystemdGeneratorAllBad(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "etc", "ehecoatl", "tenants", "acme.yaml"), "tenant: wrong_name\n")
	var l logs
	dirs := genDirs(t)
	if err := (SystemdGenerator{Root: root, Log: l.log}).Run(dirs); err != nil {
		t.Fatal(err)
	}
	got := tree(t, dirs[0])
	if len(got) != 7 || got[naming.RootSlice] == "" || got[naming.RootTarget] == "" || got[generator.DigestFile] == "" || got[naming.RouterMetricsSocket] == "" {
		t.Errorf("got %v, want only %s, %s, its link, the digest and the metrics socket with its link", got, naming.RootSlice, naming.RootTarget)
	}
	if !l.contains("skipped tenants/acme.yaml") {
		t.Errorf("log: %v", l.lines)
	}
}

// TestSystemdGeneratorNoManifests: a host without /etc/ehecoatl gets no
// units but the router's metrics socket, and no error.
func TestSystemdGeneratorNoManifests(t *testing.T) {
	var l logs
	dirs := genDirs(t)
	if err := (SystemdGenerator{Root: t.TempDir(), Log: l.log}).Run(dirs); err != nil {
		t.Fatal(err)
	}
	want := t.TempDir()
	writeDefaultMetrics(t, want)
	compareTrees(t, tree(t, dirs[0]), tree(t, want))
	if len(l.lines) != 0 {
		t.Errorf("logged %v", l.lines)
	}
}

func TestSystemdGeneratorArgs(t *testing.T) {
	g := SystemdGenerator{Root: t.TempDir(), Log: func(string) {}}
	for _, args := range [][]string{nil, {"a", "b"}, {"a", "b", "c", "d"}} {
		if err := g.Run(args); err == nil {
			t.Errorf("Run(%q): no error", args)
		}
	}
	// One directory is accepted (manual runs).
	root := installManifests(t, "../examples")
	d := t.TempDir()
	if err := (SystemdGenerator{Root: root, Log: func(string) {}}).Run([]string{d}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d, naming.RootSlice)); err != nil {
		t.Fatal(err)
	}
}

func TestWriteLog(t *testing.T) {
	var k, e bytes.Buffer
	writeLog(logWriter{w: &k, kmsg: true}, "skipped a\nand b")
	writeLog(logWriter{w: &e}, "skipped a")
	if got, want := k.String(), "<3>ehecoatl-generator: skipped a\n<3>ehecoatl-generator: and b\n"; got != want {
		t.Errorf("kmsg: %q, want %q", got, want)
	}
	if got, want := e.String(), "ehecoatl-generator: skipped a\n"; got != want {
		t.Errorf("stderr: %q, want %q", got, want)
	}
	k.Reset()
	writeLog(logWriter{w: &k, kmsg: true}, strings.Repeat("x", 5000))
	if k.Len() > kmsgMax+100 {
		t.Errorf("record of %d bytes", k.Len())
	}
}

// TestSystemdGeneratorSkipsUnrenderable: a tenant the generator cannot
// render (only a bug in validation lets one through, so the generator is
// made to fail on it here) is skipped, the others are written.
func TestSystemdGeneratorSkipsUnrenderable(t *testing.T) {
	root := installManifests(t, "../examples")
	writeFile(t, filepath.Join(root, "etc", "ehecoatl", "tenants", "colon.yaml"),
		"tenant: colon\napps:\n  web:\n    command: [/bin/true]\n    listen: activation\n    domains: [colon.example.test]\n")
	bad := func(t *manifest.Tenant) error {
		if t.Name == "colon" {
			return &generator.InvariantError{File: t.File, App: "web", Err: errors.New("a violated invariant")}
		}
		return nil
	}
	g, rt := generate, renderTenant
	t.Cleanup(func() { generate, renderTenant = g, rt })
	generate = func(s *manifest.Set, o generator.Options) (*generator.Output, error) {
		for _, t := range s.Tenants {
			if err := bad(t); err != nil {
				return nil, err
			}
		}
		return g(s, o)
	}
	renderTenant = func(t *manifest.Tenant, o generator.Options) (*generator.Output, error) {
		if err := bad(t); err != nil {
			return nil, err
		}
		return rt(t, o)
	}
	var l logs
	dirs := genDirs(t)
	if err := (SystemdGenerator{Root: root, Log: l.log}).Run(dirs); err != nil {
		t.Fatal(err)
	}
	compareTrees(t, tree(t, dirs[0]), expectedTree(t, "../examples"))
	if !l.contains(`skipped tenants/colon.yaml: generator: internal error: tenants/colon.yaml: apps.web: a violated invariant`) {
		t.Errorf("log: %q", l.lines)
	}
}

// TestMemFS: the in-memory directory behaves as fs.FS requires, with
// directories implied by their files.
func TestMemFS(t *testing.T) {
	m := memFS{"tenants/acme.yaml": []byte("tenant: acme\n"), "kits/php.yaml": []byte("kit: php\n"), "tenants/b.yaml": nil}
	if err := fstest.TestFS(m, "tenants/acme.yaml", "kits/php.yaml", "tenants/b.yaml"); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Stat(m, "missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing directory: %v", err)
	}
}

// The operator's stops hold across a boot: the generator leaves a stopped
// app's sockets out of ehecoatl.target.wants and keeps its units; an
// unreadable record is logged and ignored.
func TestGeneratorStops(t *testing.T) {
	root := installManifests(t, "../examples")
	writeFile(t, filepath.Join(root, naming.StopsFile), `{"stops": [{"tenant": "acme", "by": "alice", "since": "2026-12-01T12:00:00Z"}]}`)
	out := t.TempDir()
	if err := (SystemdGenerator{Root: root, Log: func(m string) { t.Error(m) }}).Run([]string{out}); err != nil {
		t.Fatal(err)
	}
	wants := filepath.Join(out, naming.SocketsWants)
	if _, err := os.Lstat(filepath.Join(wants, "ehecoatl-acme-web.socket")); err == nil {
		t.Error("a stopped app's socket is wanted by ehecoatl.target")
	}
	if _, err := os.Lstat(filepath.Join(wants, "ehecoatl-initech-site.socket")); err != nil {
		t.Errorf("another tenant's socket is not wanted: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "ehecoatl-acme-web.socket")); err != nil {
		t.Errorf("the stopped app's unit is gone: %v", err)
	}

	writeFile(t, filepath.Join(root, naming.StopsFile), "{")
	var logged []string
	out = t.TempDir()
	if err := (SystemdGenerator{Root: root, Log: func(m string) { logged = append(logged, m) }}).Run([]string{out}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(out, naming.SocketsWants, "ehecoatl-acme-web.socket")); err != nil || len(logged) != 1 {
		t.Errorf("unreadable record: socket wanted %v, logged %q", err, logged)
	}
}
