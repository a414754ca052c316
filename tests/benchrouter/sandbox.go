package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ehecoatl/ehecoatl/generator"
	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/templates"
)

// The sandbox of a generated service, as text: the option-cost section
// (options.go) builds its variants from it, and the cold-start section
// (coldstart.go) its minimal-sandbox reference app. Both start from what
// the generator writes today, so neither goes stale when the profile
// changes.

// minimalSandbox is the reference of issue 15's cold-start target: a
// transient user, a read-only OS and no network.
var minimalSandbox = []string{"DynamicUser=yes", "ProtectSystem=strict", "PrivateNetwork=yes"}

// generatorSandboxKeys are the sandbox options the generator sets per app
// besides templates/hardening.conf (see its header).
var generatorSandboxKeys = []string{
	"ProtectHome", "BindReadOnlyPaths", "TemporaryFileSystem", "PrivateNetwork",
	"IPAddressAllow", "RestrictNetworkInterfaces", "SocketBindDeny", "RestrictAddressFamilies",
}

// sandboxKeys are the keys of every sandbox option of a generated service:
// the profile's and the generator's.
func sandboxKeys() ([]string, error) {
	b := templates.Bytes(templates.Hardening)
	if b == nil {
		return nil, fmt.Errorf("no %s", templates.Hardening)
	}
	keys := slices.Clone(generatorSandboxKeys)
	for _, l := range unitLines(string(b)) {
		if k, _, ok := assignment(l); ok && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// unitLines splits a unit file into lines without the trailing newline.
func unitLines(unit string) []string {
	return strings.Split(strings.TrimSuffix(unit, "\n"), "\n")
}

// assignment splits "Key=value"; comments, blank lines and section
// headers are not assignments. Generated units have no continuation lines.
func assignment(line string) (key, value string, ok bool) {
	l := strings.TrimSpace(line)
	if l == "" || l[0] == '#' || l[0] == ';' || l[0] == '[' {
		return "", "", false
	}
	return strings.Cut(l, "=")
}

// serviceLines returns the assignments of a unit's [Service] section.
func serviceLines(unit string) []string {
	var out []string
	in := false
	for _, l := range unitLines(unit) {
		if t := strings.TrimSpace(l); strings.HasPrefix(t, "[") {
			in = t == "[Service]"
			continue
		}
		if _, _, ok := assignment(l); ok && in {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return out
}

// dropKeys returns unit without the [Service] assignments of keys.
func dropKeys(unit string, keys []string) string {
	var out []string
	in := false
	for _, l := range unitLines(unit) {
		if t := strings.TrimSpace(l); strings.HasPrefix(t, "[") {
			in = t == "[Service]"
		} else if k, _, ok := assignment(l); ok && in && slices.Contains(keys, k) {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n") + "\n"
}

// appendService adds lines at the end of unit's [Service] section.
func appendService(unit string, lines []string) string {
	ls := unitLines(unit)
	at := len(ls)
	in := false
	for i, l := range ls {
		if t := strings.TrimSpace(l); strings.HasPrefix(t, "[") {
			if in {
				at = i
				break
			}
			in = t == "[Service]"
		}
	}
	// Before the blank lines that end the section.
	for at > 0 && strings.TrimSpace(ls[at-1]) == "" {
		at--
	}
	out := slices.Concat(ls[:at], lines, ls[at:])
	return strings.Join(out, "\n") + "\n"
}

// minimalUnit turns a generated app service into the same service under
// the minimal sandbox: every sandbox option removed, the three of
// minimalSandbox added; command, environment, credentials, slice and
// dependencies stay the generator's.
func minimalUnit(generated string) (string, error) {
	keys, err := sandboxKeys()
	if err != nil {
		return "", err
	}
	return appendService(dropKeys(generated, keys), minimalSandbox), nil
}

// generatedUnits renders the manifests of mdir as apply installs them
// (the same options), keyed by unit file name.
func generatedUnits(mdir string) (map[string]string, error) {
	set, rep := manifest.Load(mdir)
	if rep.HasErrors() {
		return nil, fmt.Errorf("manifests in %s: %s", mdir, rep)
	}
	out, err := generator.Generate(set, generator.Options{}.ForHost())
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, f := range out.Files {
		m[f.Name] = string(f.Data)
	}
	return m, nil
}
