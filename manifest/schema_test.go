package manifest

// schema.json (the JSON Schema editors use, installed as
// /usr/share/ehecoatl/schema/manifest.schema.json) is kept in step with the
// Go validation by running both over the same files:
//
//   - Every tenant and kit file of a directory that Load accepts (valid
//     cases, the generator's cases, examples/) validates against the schema:
//     the schema is never stricter than ehecoatl validate.
//   - Every error Load reports in an invalid case is matched by a schema
//     error at the same YAML path or below it,
//     unless the table below says why a schema cannot express it. (An
//     unknown key counts at the key, "listen and port" at the app.)
//   - A file of an invalid case with no errors of its own (only errors that
//     concern other files) validates against the schema.
//   - A table of single values checks both directions for the forms the
//     test data does not spell out.
//
// The validator is github.com/santhosh-tekuri/jsonschema/v6 (draft-07, Go's
// regexp engine, which accepts the same patterns as ECMAScript's here).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"go.yaml.in/yaml/v3"
)

// outOfSchema lists the findings of invalid cases that a per-file JSON
// Schema cannot express. Keys are "case", "case/file" or
// "case/file:path"; the most specific key wins.
var outOfSchema = map[string]struct {
	kind   exceptKind
	reason string
}{
	// The YAML layer: the schema sees data, not the text it came from.
	"alias_bomb":         {yamlLevel, "anchors and aliases are expanded before a schema sees the data"},
	"anchors_merge_tags": {yamlLevel, "anchors, merge keys and tags are YAML syntax, invisible in the data"},
	"control_byte":       {yamlLevel, "a raw control byte is refused by the YAML reader before any value exists"},
	"duplicate_keys":     {yamlLevel, "a YAML mapping turned into data keeps one of the duplicate keys"},
	"multi_document":     {yamlLevel, "a schema validates one document"},
	"non_utf8":           {yamlLevel, "the encoding is checked before parsing"},
	"yaml_syntax":        {yamlLevel, "the file does not parse"},
	// The directory and file names.
	"missing_tenants_dir": {crossFile, "the directory layout is not part of a file"},
	"yml_file":            {crossFile, "file names and extensions are not part of a file's data"},
	"name_mismatch":       {crossFile, "tenant:/kit: must equal the file name, which a schema does not know"},
	// Rules across files or across apps of one file.
	"domain_across_tenants":    {crossFile, "domain ownership spans files"},
	"domain_wildcard_takeover": {crossFile, "a name and everything below it belong to one tenant: ownership spans files"},
	"domain_below_wildcard":    {crossFile, "a name and everything below it belong to one tenant: ownership spans files"},
	"domain_public_suffix/tenants/acme.yaml:apps.web.domains[0]":     {notExpressible, "*.co.uk: the Public Suffix List is data, not a pattern"},
	"domain_public_suffix/tenants/acme.yaml:apps.web.domains[1]":     {notExpressible, "*.github.io: the Public Suffix List is data, not a pattern"},
	"domain_public_suffix/tenants/acme.yaml:apps.web.domains[3]":     {notExpressible, "co.uk: the Public Suffix List is data, not a pattern"},
	"domain_public_suffix/tenants/acme.yaml:apps.web.domains[5]":     {notExpressible, "github.io: the Public Suffix List is data, not a pattern"},
	"domain_path_same_tenant/tenants/acme.yaml:apps.api.domains[0]":  {crossFile, "one (domain, path) per app: a rule across apps"},
	"domain_path_same_tenant/tenants/acme.yaml:apps.news.domains[0]": {crossFile, "one (domain, path) per app, after normalising /blog/ to /blog: a rule across apps"},
	"domain_path_same_tenant/tenants/acme.yaml:apps.web.domains[1]":  {notExpressible, "duplicates after lower-casing and dropping the trailing dot; uniqueItems compares as written"},
	"tls_domain_shared/tenants/acme.yaml:apps.api.domains[0]":        {crossFile, "one tls: per domain: a rule across apps"},
	"unknown_kit":                                    {crossFile, "kits/NAME.yaml must exist"},
	"kit_errors/tenants/acme.yaml":                   {crossFile, "the kit lacks command: the merged app is incomplete"},
	"missing_listen_port/tenants/acme.yaml:apps.api": {crossFile, "the kit decides whether listen or port is set"},
	// Values a pattern cannot judge.
	"bad_cidrs/tenants/acme.yaml:apps.c.egress[0]": {notExpressible, "host bits set under the prefix length (10.0.0.5/8) needs arithmetic"},
	"bad_sizes/tenants/acme.yaml:apps.f.memory":    {notExpressible, "an int64 overflow of number times unit needs arithmetic"},
}

type exceptKind int

const (
	// yamlLevel: the file is not checked against the schema at all.
	yamlLevel exceptKind = iota
	// crossFile: the finding concerns other files or apps; a file with
	// only such findings must validate.
	crossFile
	// notExpressible: the finding concerns this file only, but a schema
	// cannot check it; the file may or may not validate.
	notExpressible
)

type schemas struct{ root, tenant, kit *jsonschema.Schema }

func compileSchema(t *testing.T) schemas {
	t.Helper()
	f, err := os.Open("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("schema.json: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	const url = "file:///ehecoatl/manifest/schema.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	var s schemas
	for _, x := range []struct {
		dst **jsonschema.Schema
		loc string
	}{{&s.root, url}, {&s.tenant, url + "#/definitions/tenant"}, {&s.kit, url + "#/definitions/kit"}} {
		if *x.dst, err = c.Compile(x.loc); err != nil {
			t.Fatalf("compile %s: %v", x.loc, err)
		}
	}
	return s
}

// forFile picks the schema of a manifest file by its directory.
func (s schemas) forFile(rel string) *jsonschema.Schema {
	if strings.HasPrefix(rel, "kits/") {
		return s.kit
	}
	return s.tenant
}

// instance turns YAML into the data a schema validates, the way
// yaml-language-server does: scalars by their resolved YAML tag.
func instance(data []byte) (any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	var v any
	if len(doc.Content) > 0 {
		v = fromNode(doc.Content[0])
	}
	// Round trip through JSON for the number types the validator expects.
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

func fromNode(n *yaml.Node) any {
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = fromNode(n.Content[i+1])
		}
		return m
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			l = append(l, fromNode(c))
		}
		return l
	case yaml.AliasNode:
		return "*" + n.Value // never expanded: see alias_bomb
	}
	switch n.Tag {
	case "!!null":
		return nil
	case "!!bool", "!!int", "!!float":
		var v any
		if err := n.Decode(&v); err == nil {
			if _, err := json.Marshal(v); err == nil { // not NaN or Inf
				return v
			}
		}
	}
	return n.Value
}

// schemaErrors validates v and returns the YAML paths (in Finding.Path's
// notation) of every leaf error, with its message.
func schemaErrors(s *jsonschema.Schema, v any) map[string][]string {
	err := s.Validate(v)
	if err == nil {
		return nil
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return map[string][]string{"": {err.Error()}}
	}
	out := map[string][]string{}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			p := yamlPath(v, e.InstanceLocation)
			switch k := e.ErrorKind.(type) {
			case *kind.AdditionalProperties:
				// Reported on the mapping; Go reports each unknown key.
				for _, prop := range k.Properties {
					out[joinKey(p, prop)] = append(out[joinKey(p, prop)], "unknown key")
				}
			case *kind.UniqueItems:
				// Reported on the list; Go reports the second item.
				q := index(p, k.Duplicates[1])
				out[q] = append(out[q], "duplicate")
			case *kind.Not:
				// "listen and port" is reported on the app, Go reports
				// the second of the two keys: a parent covers it.
				out[p] = append(out[p], notKeyword)
			default:
				out[p] = append(out[p], fmt.Sprint(e.ErrorKind))
			}
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return out
}

// yamlPath writes a JSON pointer's tokens as manifest paths are written
// ("apps.web.command[1]"), indexing arrays and quoting keys as joinKey does.
func yamlPath(v any, tokens []string) string {
	p := ""
	for _, tok := range tokens {
		switch x := v.(type) {
		case []any:
			i, _ := strconv.Atoi(tok)
			p = index(p, i)
			if i < len(x) {
				v = x[i]
			}
		case map[string]any:
			p = joinKey(p, tok)
			v = x[tok]
		default:
			p = joinKey(p, tok)
		}
	}
	return p
}

// parentPath is the path of the mapping or list that holds p.
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		return p[:strings.LastIndexByte(p, '[')]
	}
	// Keys may be quoted and contain dots: walk from the start.
	last := 0
	inQuote := false
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == '\\' && inQuote:
			i++
		case p[i] == '"':
			inQuote = !inQuote
		case p[i] == '.' && !inQuote:
			last = i
		}
	}
	return p[:last]
}

// notKeyword marks errors of the "not" keyword in schemaErrors' result.
const notKeyword = "not"

// covered reports whether a schema error was found at the finding's path
// or below it, or a "not" error at its parent.
func covered(path string, errs map[string][]string) bool {
	for p, msgs := range errs {
		switch {
		case p == path,
			path != "" && (strings.HasPrefix(p, path+".") || strings.HasPrefix(p, path+"[")),
			path != "" && p == parentPath(path) && slices.Contains(msgs, notKeyword):
			return true
		}
	}
	return false
}

func exceptionFor(caseName, file, path string) (exceptKind, string, bool) {
	for _, k := range []string{caseName + "/" + file + ":" + path, caseName + "/" + file, caseName} {
		if e, ok := outOfSchema[k]; ok {
			return e.kind, e.reason, true
		}
	}
	return 0, "", false
}

// caseFiles lists tenants/*.yaml and kits/*.yaml of dir, relative.
func caseFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, sub := range []string{"tenants", "kits"} {
		m, err := filepath.Glob(filepath.Join(dir, sub, "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() && !strings.HasPrefix(filepath.Base(f), ".") {
				out = append(out, sub+"/"+filepath.Base(f))
			}
		}
	}
	return out
}

func TestSchemaAcceptsValid(t *testing.T) {
	s := compileSchema(t)
	var dirs []string
	dirs = append(dirs, caseDirs(t, filepath.Join("testdata", "valid"))...)
	dirs = append(dirs, caseDirs(t, filepath.Join("..", "generator", "testdata"))...)
	dirs = append(dirs, filepath.Join("..", "examples"))
	files := 0
	for _, dir := range dirs {
		for _, rel := range caseFiles(t, dir) {
			files++
			name := filepath.Join(dir, rel)
			t.Run(name, func(t *testing.T) {
				_, rep := Load(dir)
				if rep.HasErrors() {
					t.Skipf("the Go validation rejects %s (not a valid case):\n%s", dir, rep)
				}
				data, err := os.ReadFile(name)
				if err != nil {
					t.Fatal(err)
				}
				v, err := instance(data)
				if err != nil {
					t.Fatal(err)
				}
				for _, sch := range []*jsonschema.Schema{s.forFile(rel), s.root} {
					if errs := schemaErrors(sch, v); errs != nil {
						t.Errorf("the Go validation accepts %s, the schema (%s) rejects it: %v", name, sch.Location, errs)
					}
				}
			})
		}
	}
	if files < 35 {
		t.Errorf("only %d valid files checked; expected the valid, generator and example cases", files)
	}
}

func TestSchemaRejectsInvalid(t *testing.T) {
	s := compileSchema(t)
	used := map[string]bool{}
	for _, dir := range caseDirs(t, filepath.Join("testdata", "invalid")) {
		caseName := filepath.Base(dir)
		t.Run(caseName, func(t *testing.T) {
			_, rep := Load(dir)
			byFile := map[string][]Finding{}
			for _, f := range rep.Findings {
				if f.Severity == Error {
					byFile[f.File] = append(byFile[f.File], f)
				}
			}
			// Findings that belong to no tenant or kit file.
			for file, fs := range byFile {
				if !slices.Contains(caseFiles(t, dir), file) {
					for _, f := range fs {
						if _, _, ok := exceptionFor(caseName, file, f.Path); !ok {
							t.Errorf("%s: finding outside a manifest file has no entry in outOfSchema: %s", caseName, f)
						}
						markUsed(used, caseName, file, f.Path)
					}
				}
			}
			for _, rel := range caseFiles(t, dir) {
				findings := byFile[rel]
				if k, _, ok := exceptionFor(caseName, rel, ""); ok && k == yamlLevel {
					markUsed(used, caseName, rel, "")
					continue
				}
				data, err := os.ReadFile(filepath.Join(dir, rel))
				if err != nil {
					t.Fatal(err)
				}
				v, err := instance(data)
				if err != nil {
					t.Errorf("%s: not readable as YAML data (%v); mark the case yamlLevel in outOfSchema", rel, err)
					continue
				}
				errs := schemaErrors(s.forFile(rel), v)
				own := 0 // findings the schema must match
				mayFail := false
				for _, f := range findings {
					if k, _, ok := exceptionFor(caseName, rel, f.Path); ok {
						markUsed(used, caseName, rel, f.Path)
						if k != crossFile {
							mayFail = true
						}
						continue
					}
					own++
					if !covered(f.Path, errs) {
						t.Errorf("the schema misses %s\n  schema errors: %v", f, errs)
					}
				}
				switch {
				case own == 0 && !mayFail && errs != nil:
					t.Errorf("%s has no errors of its own, but the schema rejects it: %v", rel, errs)
				case own > 0 && errs == nil:
					t.Errorf("%s: the Go validation rejects it, the schema accepts it", rel)
				}
			}
		})
	}
	// Every exception must still be needed.
	for k := range outOfSchema {
		if !used[k] {
			t.Errorf("outOfSchema entry %q matches no finding (remove it)", k)
		}
	}
}

func markUsed(used map[string]bool, caseName, file, path string) {
	for _, k := range []string{caseName + "/" + file + ":" + path, caseName + "/" + file, caseName} {
		if _, ok := outOfSchema[k]; ok {
			used[k] = true
			return
		}
	}
}

// TestSchemaValues runs single values through both validations: a tenant
// file with one app whose field is set to the value (or the limits key).
// Both must agree.
func TestSchemaValues(t *testing.T) {
	s := compileSchema(t)
	cases := []struct {
		field, value string
		ok           bool
	}{
		{"idle_timeout", "0", true},
		{"idle_timeout", "'0'", true},
		{"idle_timeout", "0ms", true},
		{"idle_timeout", "1000ms", true},
		{"idle_timeout", "999ms", false},
		{"idle_timeout", "0s500ms", false},
		{"idle_timeout", "1h30m", true},
		{"idle_timeout", "30m1h", false},
		{"idle_timeout", "5", false},
		{"watchdog", "30s", true},
		{"watchdog", "1s500ms", true},
		{"watchdog", "0s1500ms", true},
		{"watchdog", "1000ms", true},
		{"watchdog", "999ms", false},
		{"watchdog", "0s", false},
		{"watchdog", "0h", false},
		{"watchdog", "0", false},
		{"watchdog", "30", false},
		{"memory", "1073741824", true},
		{"memory", "0", false},
		{"memory", "0512M", true},
		{"memory", "1K", true},
		{"memory", "1k", false},
		{"domains", "[Example.COM.]", true},
		{"domains", "[example.com:8080]", true},
		{"domains", "['example.com.:443']", true},
		{"domains", "['example.com:0']", false},
		{"domains", "['*.example.com']", true},
		{"domains", "['*.com']", false},
		{"domains", "[xn--bcher-kva.example]", true},
		{"domains", "['a-.example.com']", false},
		{"domains", "[]", true},
		{"domains", "[localhost]", false},
		{"domains", "[com.]", false},
		{"domains", "[127.0.0.1]", false},
		{"domains", "['127.0.0.1:8080']", false},
		{"domains", "['[::1]']", false},
		{"domains", "['::1']", false},
		{"domains", "[2130706433]", false},
		{"domains", "['2130706433']", false},
		{"domains", "[0x7f.0.0.1]", false},
		{"domains", "[A.0X7F.]", false},
		{"domains", "[true]", false},
		{"domains", "[1.5]", false},
		{"domains", "[1.example.test, 0x7f.example, a.0xg]", true},
		{"domains", "['*.1.2']", false},
		{"domains", "[acme.co.uk, '*.acme.github.io']", true},
		{"path", "/api//", true},
		{"path", "/a//b", false},
		{"path", "/a/./b", false},
		{"path", "/~user/", true},
		{"health", "/healthz/", true},
		{"health", "/a//", false},
		{"egress", "none", true},
		{"egress", "None", false},
		{"egress", "[0.0.0.0/0, '::/0']", true},
		{"egress", "[10.0.0.1]", true},
		{"egress", "['2001:db8::1']", true},
		{"egress", "[10.0.0.0/33]", false},
		{"egress", "[010.0.0.1]", false},
		{"egress", "[]", false},
		{"env", "{A: 1, B: true, C: 1.5, D: ''}", true},
		{"env", "{LISTEN_FDS: 1}", false},
		{"env", "{EHECOATL_X: 1}", false},
		{"env", "{_x: y}", true},
		{"secrets", "[a.b-c, _x, '9']", true},
		{"secrets", "[-a]", false},
		{"secrets", "[a/b]", false},
		{"read_only", "[/srv, /etc/ehecoatl2, /var/www]", true},
		{"read_only", "[/etc/ehecoatl/]", false},
		{"read_only", "[/run]", false},
		{"read_only", "[/runx]", false},
		{"read_only", "[/proc/1/root]", false},
		{"read_only", "[/proc/self/root]", false},
		{"read_only", "[/sys/fs]", false},
		{"read_only", "[/dev/shm]", false},
		{"read_only", "[/var]", false},
		{"read_only", "[/var/lib/private/ehecoatl-b-web]", false},
		{"read_only", "[/var/run/postgresql]", false},
		{"connect", "[/run/postgresql/.s.PGSQL.5432]", true},
		{"connect", "[/run/systemd/journal/socket]", false},
		{"connect", "[/run/ehecoatl/b/web.sock]", false},
		{"connect", "[/run/dbus/system_bus_socket]", false},
		{"connect", "[/dev/log]", false},
		{"connect", "[/run]", false},
		{"restart", "no", true},
		{"restart", "'false'", false},
		{"workers", "64", true},
		{"workers", "0", false},
		{"state", "false", true},
		{"state", "'true'", false},
		{"limits.cpu", "0150%", true},
		{"limits.cpu", "100000%", true},
		{"limits.cpu", "100001%", false},
		{"limits.cpu", "0%", false},
		{"limits.tasks", "1000000", true},
		{"limits.io_weight", "0x10", true},
	}
	for _, c := range cases {
		t.Run(c.field+"="+c.value, func(t *testing.T) {
			var doc string
			if l, ok := strings.CutPrefix(c.field, "limits."); ok {
				doc = fmt.Sprintf("tenant: acme\nlimits:\n  %s: %s\napps: {}\n", l, c.value)
			} else {
				doc = "tenant: acme\napps:\n  web:\n    command: [/bin/app, 8080, true, '%d']\n    listen: activation\n" +
					fmt.Sprintf("    %s: %s\n", c.field, c.value)
			}
			fsys := fstest.MapFS{"tenants/acme.yaml": {Data: []byte(doc)}}
			_, rep := LoadFS(fsys, "mem")
			goOK := !rep.HasErrors()
			v, err := instance([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			errs := schemaErrors(s.tenant, v)
			if goOK != c.ok {
				t.Errorf("Go validation: ok=%v, the table says %v:\n%s", goOK, c.ok, rep)
			}
			if (errs == nil) != c.ok {
				t.Errorf("schema: ok=%v, the table says %v: %v", errs == nil, c.ok, errs)
			}
		})
	}
}
