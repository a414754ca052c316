// Command gendocs writes the generated files of the packages (make package):
// the man pages ehecoatl(1), ehecoatl-router(8) and ehecoatl.yaml(5), the
// Debian changelog and the RPM changelog. Everything it
// writes depends only on its inputs (no clock, no host name), so that two
// builds of one commit give byte-identical packages.
//
//	go run ./packaging/gendocs -out DIR -version V -epoch SECONDS -router-bin PATH
//
// Sources: the CLI itself (cli.New) for ehecoatl(1);
// packaging/man/ehecoatl-router.8.md plus the options the router binary
// prints with -h for ehecoatl-router(8); docs/MANIFEST.md for
// ehecoatl.yaml(5); packaging/changelog.yaml for both changelogs.
package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/cpuguy83/go-md2man/v2/md2man"
	"go.yaml.in/yaml/v3"

	"github.com/ehecoatl/ehecoatl/cli"
)

func main() {
	var o options
	flag.StringVar(&o.out, "out", "", "output directory (created)")
	flag.StringVar(&o.repo, "repo", ".", "repository root")
	flag.StringVar(&o.version, "version", "", "package version, e.g. 0.1.0~git12.abcdef0")
	flag.Int64Var(&o.epoch, "epoch", 0, "SOURCE_DATE_EPOCH: date of the man pages and of the changelog's first entry")
	flag.StringVar(&o.routerBin, "router-bin", "", "the built ehecoatl-router, run with -h for its options")
	flag.StringVar(&o.maintainer, "maintainer", "", "Name <address> of the changelog's first entry")
	flag.StringVar(&o.rpmRelease, "rpm-release", "1", "the rpm's Release (nfpm's default), appended to versions in the rpm changelog")
	flag.Parse()
	if o.out == "" || o.version == "" || o.epoch == 0 || o.routerBin == "" || o.maintainer == "" {
		fmt.Fprintln(os.Stderr, "gendocs: -out, -version, -epoch, -router-bin and -maintainer are required")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

type options struct {
	out, repo, version, routerBin, maintainer, rpmRelease string
	epoch                                                 int64
}

func (o options) date() time.Time { return time.Unix(o.epoch, 0).UTC() }

func run(o options) error {
	steps := []struct {
		file string
		gen  func(options) ([]byte, error)
		gz   bool
	}{
		{"man/ehecoatl.1.gz", cliMan, true},
		{"man/ehecoatl-router.8.gz", routerMan, true},
		{"man/ehecoatl.yaml.5.gz", manifestMan, true},
		{"changelog.gz", debianChangelog, true},
		{"changelog.yaml", rpmChangelog, false},
	}
	for _, s := range steps {
		b, err := s.gen(o)
		if err != nil {
			return fmt.Errorf("%s: %w", s.file, err)
		}
		if s.gz {
			if b, err = gz(b); err != nil {
				return fmt.Errorf("%s: %w", s.file, err)
			}
		}
		p := filepath.Join(o.out, s.file)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// gz compresses like `gzip -9n`: maximum compression, no name, no time
// (lintian checks both; a time would make builds differ).
func gz(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ---- man pages -------------------------------------------------------

// render turns markdown that starts with a "% TITLE SECTION" title block
// into roff, with a complete .TH line (title, section, date, source,
// manual) in place of the one go-md2man writes.
func render(md string, title string, section int, o options) ([]byte, error) {
	roff := string(md2man.Render([]byte(md)))
	th := fmt.Sprintf(".TH %q %q %q %q %q", title, fmt.Sprint(section), o.date().Format("2006-01-02"),
		"ehecoatl "+o.version, "Ehecoatl Manual")
	lines := strings.SplitAfter(roff, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".TH ") {
			lines[i] = th + "\n"
			return []byte(strings.Join(lines, "")), nil
		}
	}
	return nil, fmt.Errorf("no .TH line in the rendered page of %s(%d)", title, section)
}

// cliMan is ehecoatl(1) from the urfave/cli application, with the
// sections a man page of a system tool is expected to have added.
func cliMan(o options) ([]byte, error) {
	app := cli.New(io.Discard, io.Discard)
	app.Description = mdEscape(app.Description)
	for _, c := range app.Commands {
		c.Usage = mdEscape(c.Usage)
		c.Description = mdEscape(c.Description)
	}
	raw, err := app.ToMarkdown()
	if err != nil {
		return nil, err
	}
	// urfave/cli writes a synopsis of the global flags only, a usage
	// block, and every command as a top-level section; a man page wants
	// one synopsis line and the commands as subsections with their
	// arguments.
	var md strings.Builder
	skip := false
	for _, l := range strings.Split(raw, "\n") {
		switch {
		case l == "# SYNOPSIS":
			md.WriteString(l + "\n\n**ehecoatl** [**--root** *DIR*] *COMMAND* [*OPTIONS*] [*ARGUMENTS*]\n\n")
			skip = true
			continue
		case l == "**Usage**:":
			skip = true
			continue
		case strings.HasPrefix(l, "# "):
			skip = false
		case strings.HasPrefix(l, "## "):
			name := strings.TrimPrefix(l, "## ")
			l = "### " + name
			if c := app.Command(name); c != nil && c.ArgsUsage != "" {
				l += " " + c.ArgsUsage
			}
		}
		if !skip {
			md.WriteString(l + "\n")
		}
	}
	return render("% EHECOATL 1\n\n"+md.String()+`

# EXIT STATUS

0 when the command succeeded, 1 for invalid manifests, a TENANT or TENANT/APP that is not installed, or a failed operation, 2 for wrong usage.
**status** exits 1 also when an app failed or the router is down (its socket enabled but not
listening, a unit of it failed, or its table not loaded), 0 when everything serves or is held as
asked (stopped by the operator, suspended).
**top** exits 1 when the router's metrics endpoint is off or does not answer.

# EXAMPLES

Check a directory of manifests, see what applying it would change, apply it:

    ehecoatl validate ./hosting
    ehecoatl plan ./hosting
    ehecoatl apply ./hosting

Every app, one tenant, one app as JSON for scripts:

    ehecoatl status
    ehecoatl status acme
    ehecoatl status acme/web --json

A tenant's errors of the last hour, then one app's lines as they come:

    ehecoatl logs acme --since "1h ago" -p err
    ehecoatl logs acme/web -f

Stop a tenant's apps, and start them again:

    ehecoatl stop acme
    ehecoatl start acme

Apply, validating and rendering even though no input changed since the last apply, and see why
and where the time went:

    ehecoatl apply --full --timings ./hosting

Undo the last apply, after reading what it would change, and see what is kept:

    ehecoatl rollback --dry-run
    ehecoatl rollback
    ehecoatl history

Which domain goes to which app, with its certificate:

    ehecoatl routes

Tenants and apps by CPU, refreshed every second (Ctrl-C ends it); by requests per second, once;
one view as JSON for a script:

    ehecoatl top
    ehecoatl top --sort rps --once
    ehecoatl top --json

A starter manifest for a new tenant, checked and applied with the others:

    ehecoatl init shop --domain shop.example.com --dir ./hosting
    ehecoatl apply ./hosting

Shell completion of commands, flags, tenants and TENANT/APP is installed for bash, zsh and fish.

# FILES

*/etc/ehecoatl/tenants*, */etc/ehecoatl/kits*
:   The installed manifests (symbolic links into */etc/ehecoatl/current*, which **apply** switches
    atomically); the default *DIR*.

*/etc/ehecoatl/secrets/TENANT/NAME*
:   Secrets of tenants, readable by root only, passed to apps as systemd credentials.

*/etc/ehecoatl/.generations*
:   The generations **apply** installed: the current one and the last 10 before it
    (*EHECOATL_KEEP_GENERATIONS*), which **history** lists and **rollback** re-applies.

*/etc/default/ehecoatl*
:   Settings of the command, *KEY=VALUE* lines: *EHECOATL_KEEP_GENERATIONS*, how many previous
    generations **apply** keeps (default 10, at least 1).

*/etc/default/ehecoatl-router*
:   The router's settings; **top** reads *EHECOATL_METRICS_LISTEN* from it, the address of the
    router's metrics endpoint (default *127.0.0.1:9808*; *off*: none).

*/var/lib/ehecoatl*
:   What the last **apply** did (*applied.json*) and what it read (*applied-inputs.json*: an apply
    of the same inputs skips validating and rendering; **apply --full** does not), the generations' log (*history.json*: when,
    by whom, by which command, what changed), and the operator's stops (*stopped.json*,
    written by **stop**, cleared by **start**; apply, the router and reboots respect them).

*/var/lib/private/ehecoatl-TENANT-APP*
:   State directories of apps with *state: true*; kept when a tenant is removed, deleted only by
    **ehecoatl purge**.

*/usr/share/doc/ehecoatl/examples*
:   Example manifests: **ehecoatl apply /usr/share/doc/ehecoatl/examples**.

*/usr/share/ehecoatl/schema/manifest.schema.json*
:   JSON Schema of tenant and kit files, for editors.

# SEE ALSO

**ehecoatl.yaml**(5), **ehecoatl-router**(8), **systemd.exec**(5), **journalctl**(1)
`, "EHECOATL", 1, o)
}

// routerMan is ehecoatl-router(8): packaging/man/ehecoatl-router.8.md with
// the options the binary itself prints, so the page cannot drift from the
// flags.
func routerMan(o options) ([]byte, error) {
	src, err := os.ReadFile(filepath.Join(o.repo, "packaging/man/ehecoatl-router.8.md"))
	if err != nil {
		return nil, err
	}
	var help bytes.Buffer
	cmd := exec.Command(o.routerBin, "-h")
	cmd.Stdout, cmd.Stderr = &help, &help
	_ = cmd.Run() // the flag package exits 0 or 2 after -h, depending on the program
	opts, err := flagsMarkdown(help.String())
	if err != nil {
		return nil, fmt.Errorf("%s -h: %w", o.routerBin, err)
	}
	md := strings.Replace(string(src), "@OPTIONS@", opts, 1)
	return render(md, "EHECOATL-ROUTER", 8, o)
}

var flagLine = regexp.MustCompile(`^  -([a-z0-9-]+)(?: (\S+))?$`)

// flagsMarkdown converts the output of Go's flag.PrintDefaults into a
// definition list.
func flagsMarkdown(help string) (string, error) {
	var b strings.Builder
	n := 0
	for _, l := range strings.Split(help, "\n") {
		if m := flagLine.FindStringSubmatch(l); m != nil {
			if n > 0 {
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "**-%s**", m[1])
			if m[2] != "" {
				fmt.Fprintf(&b, " *%s*", m[2])
			}
			b.WriteString("\n")
			n++
			continue
		}
		if t := strings.TrimSpace(l); t != "" && n > 0 && strings.HasPrefix(l, "    ") {
			fmt.Fprintf(&b, ":   %s\n", mdEscape(t))
		}
	}
	if n == 0 {
		return "", fmt.Errorf("no options found in:\n%s", help)
	}
	return b.String(), nil
}

// mdEscape keeps markdown from reading *, _ and < in option texts.
func mdEscape(s string) string {
	return strings.NewReplacer(`*`, `\*`, `_`, `\_`, `<`, `\<`, "`", "\\`").Replace(s)
}

// manifestMan is ehecoatl.yaml(5): docs/MANIFEST.md under a NAME and
// SYNOPSIS, with its sections made man sections.
func manifestMan(o options) ([]byte, error) {
	src, err := os.ReadFile(filepath.Join(o.repo, "docs/MANIFEST.md"))
	if err != nil {
		return nil, err
	}
	var body strings.Builder
	inFence := false
	var header []string // of the table being converted
	for i, l := range strings.Split(string(src), "\n") {
		if strings.HasPrefix(l, "```") {
			inFence = !inFence
		}
		switch {
		case inFence:
		case strings.HasPrefix(l, "|"):
			// Tables become definition lists: tbl cannot fit a table
			// with a long last column into 80 columns.
			cells := tableCells(l)
			switch {
			case header == nil:
				header = cells
				continue
			case strings.Trim(l, "|-: ") == "":
				continue
			}
			body.WriteString(tableItem(header, cells))
			continue
		case header != nil:
			header = nil
		case i == 0 && strings.HasPrefix(l, "# "):
			continue // the document title; the page has its own NAME
		case strings.HasPrefix(l, "## "):
			l = "# " + strings.ToUpper(strings.TrimPrefix(l, "## "))
		case strings.HasPrefix(l, "### "):
			l = "## " + strings.TrimPrefix(l, "### ")
		}
		body.WriteString(l + "\n")
	}
	md := `% EHECOATL.YAML 5

# NAME

ehecoatl.yaml - tenant and kit manifests of Ehecoatl

# SYNOPSIS

*DIR/tenants/TENANT.yaml*, *DIR/kits/KIT.yaml*

**ehecoatl validate** *DIR*; **ehecoatl apply** *DIR*

# DESCRIPTION

` + body.String() + `
# EXAMPLES

A tenant with one socket-activated app, in *DIR/tenants/acme.yaml*:

` + "```" + `
tenant: acme
limits: {cpu: 100%, memory: 512M}
apps:
  web:
    command: [/usr/bin/python3, /srv/acme/app.py]
    listen: activation
    domains: [acme.example.com, www.acme.example.com]
    read_only: [/srv/acme]
    state: true
` + "```" + `

An app that binds a port itself, from a kit shared by many tenants (white-label), in
*DIR/tenants/globex.yaml* beside *DIR/kits/shop.yaml*:

` + "```" + `
tenant: globex
apps:
  shop:
    kit: shop
    domains: [shop.globex.com]
    env: {SHOP_NAME: Globex}
    secrets: [db_password]
` + "```" + `

More, with comments, in */usr/share/doc/ehecoatl/examples* (**ehecoatl validate** that directory).

# EDITOR SUPPORT

A JSON Schema of tenant and kit files is installed as
*/usr/share/ehecoatl/schema/manifest.schema.json*. Editors that use yaml-language-server check
and complete a file that starts with

` + "```" + `
# yaml-language-server: $schema=/usr/share/ehecoatl/schema/manifest.schema.json
` + "```" + `

The schema checks each file on its own; **ehecoatl validate** remains the authority (rules across
files, YAML restrictions, file names).

# FILES

*/etc/ehecoatl/tenants*, */etc/ehecoatl/kits*
:   The manifests installed by **ehecoatl apply**.

*/usr/share/doc/ehecoatl/examples*
:   Examples that run on a Debian host with python3.

# SEE ALSO

**ehecoatl**(1), **ehecoatl-router**(8), **systemd.resource-control**(5), **systemd.exec**(5)
`
	return render(md, "EHECOATL.YAML", 5, o)
}

// tableCells splits a markdown table row.
func tableCells(l string) []string {
	l = strings.TrimSpace(l)
	l = strings.TrimSuffix(strings.TrimPrefix(l, "|"), "|")
	cells := strings.Split(l, "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	return cells
}

// tableItem writes one table row as a definition list item: the first
// cell is the term, the second (if there are three) follows it in
// parentheses, the last is the definition.
func tableItem(header, cells []string) string {
	if len(cells) < 2 {
		return strings.Join(cells, " ") + "\n\n"
	}
	term := cells[0]
	if len(cells) >= 3 && cells[1] != "" {
		term += " (" + cells[1] + ")"
	}
	return term + "\n:   " + cells[len(cells)-1] + "\n\n"
}

// ---- changelogs ------------------------------------------------------

// changelogEntry is one entry of packaging/changelog.yaml (the chglog
// format nfpm reads for RPM). The first entry's semver "@VERSION@" stands
// for the version being built, and its date for the build's epoch.
type changelogEntry struct {
	Semver   string    `yaml:"semver"`
	Date     time.Time `yaml:"date"`
	Packager string    `yaml:"packager"`
	Changes  []struct {
		Note string `yaml:"note"`
	} `yaml:"changes"`
}

func changelog(o options) ([]changelogEntry, error) {
	b, err := os.ReadFile(filepath.Join(o.repo, "packaging/changelog.yaml"))
	if err != nil {
		return nil, err
	}
	var es []changelogEntry
	if err := yaml.Unmarshal(b, &es); err != nil {
		return nil, err
	}
	if len(es) == 0 || es[0].Semver != "@VERSION@" {
		return nil, fmt.Errorf("packaging/changelog.yaml: the first entry must have semver: \"@VERSION@\"")
	}
	es[0].Semver = o.version
	es[0].Date = o.date()
	if es[0].Packager == "" {
		es[0].Packager = o.maintainer
	}
	for i, e := range es {
		if e.Packager == "" || len(e.Changes) == 0 || e.Date.IsZero() {
			return nil, fmt.Errorf("packaging/changelog.yaml: entry %d needs packager, date and changes", i+1)
		}
	}
	return es, nil
}

// debianChangelog writes deb-changelog(5); a native package (no Debian
// revision) ships it as /usr/share/doc/ehecoatl/changelog.gz.
func debianChangelog(o options) ([]byte, error) {
	es, err := changelog(o)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "ehecoatl (%s) unstable; urgency=medium\n\n", e.Semver)
		for _, c := range e.Changes {
			b.WriteString(wrap(c.Note, "  * ", "    ", 78))
		}
		fmt.Fprintf(&b, "\n -- %s  %s\n", e.Packager, e.Date.UTC().Format(time.RFC1123Z))
	}
	return []byte(b.String()), nil
}

// rpmChangelog writes the chglog file nfpm turns into %changelog. rpm
// entries name version-release (rpmlint compares the first with the
// package's).
func rpmChangelog(o options) ([]byte, error) {
	es, err := changelog(o)
	if err != nil {
		return nil, err
	}
	for i := range es {
		if !strings.Contains(es[i].Semver, "-") {
			es[i].Semver += "-" + o.rpmRelease
		}
	}
	return yaml.Marshal(es)
}

// wrap fills text into lines of at most width, the first prefixed with
// first and the others with rest.
func wrap(text, first, rest string, width int) string {
	var b strings.Builder
	line := first
	empty := true
	for _, w := range strings.Fields(text) {
		if !empty && len(line)+1+len(w) > width {
			b.WriteString(line + "\n")
			line, empty = rest, true
		}
		if !empty {
			line += " "
		}
		line += w
		empty = false
	}
	b.WriteString(line + "\n")
	return b.String()
}
