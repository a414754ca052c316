package manifest

// Walking a yaml.Node tree with positions and YAML paths. Unknown keys,
// duplicate keys and wrong types are found here, for every file, instead of
// relying on yaml's KnownFields (which reports neither the path nor all
// problems).

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// fileDecoder reports findings for one file.
type fileDecoder struct {
	c    *collector
	file string // "tenants/acme.yaml"
	kind string // "tenant" or "kit"
	// host looks at this host for read_only and connect paths.
	host host
}

func (d *fileDecoder) errAt(n *yaml.Node, path, msg, hint string) {
	d.c.add(Finding{Severity: Error, File: d.file, Line: n.Line, Col: n.Column, Path: path, Message: msg, Hint: hint})
}

func (d *fileDecoder) warnAt(n *yaml.Node, path, msg, hint string) {
	d.c.add(Finding{Severity: Warning, File: d.file, Line: n.Line, Col: n.Column, Path: path, Message: msg, Hint: hint})
}

func (d *fileDecoder) probAt(n *yaml.Node, path string, p *problem) {
	d.errAt(n, path, p.msg, p.hint)
}

func (d *fileDecoder) fileErr(msg, hint string) {
	d.c.add(Finding{Severity: Error, File: d.file, Message: msg, Hint: hint})
}

func (d *fileDecoder) emptyHint() string {
	if d.kind == "kit" {
		return "start with kit: NAME followed by the app fields, or delete the file"
	}
	return "start with tenant: NAME and apps:, or delete the file to remove the tenant"
}

func (d *fileDecoder) pos(n *yaml.Node, path string) pos {
	return pos{file: d.file, line: n.Line, col: n.Column, path: path}
}

// pos is where a value was written, for findings raised after merging.
type pos struct {
	file      string
	line, col int
	path      string
}

func (p pos) String() string {
	return fmt.Sprintf("%s:%d:%d", p.file, p.line, p.col)
}

func quoteText(s string) string { return strconv.Quote(s) }

// joinKey appends a mapping key to a YAML path; keys that are not plain
// identifiers are quoted so the path stays unambiguous and on one line.
func joinKey(path, key string) string {
	if !plainKey(key) {
		key = strconv.Quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// lastKey is the last key of a YAML path ("apps.web.workers" -> "workers").
func lastKey(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func plainKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}

// describe names what a node is, for "expected X, found Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	switch n.Tag {
	case "!!null":
		return "no value"
	case "!!bool":
		return "true/false"
	case "!!int", "!!float":
		return "a number (" + n.Value + ")"
	}
	return fmt.Sprintf("a string (%q)", n.Value)
}

// entry is one key/value pair of a mapping.
type entry struct {
	key  string
	k, v *yaml.Node
	path string
}

// mapping returns the pairs of a mapping node, reporting a wrong kind,
// non-scalar keys and duplicate keys. Alias nodes and merge keys were
// reported by checkNoYAMLReferences and are skipped silently.
func (d *fileDecoder) mapping(n *yaml.Node, path, what, hint string) ([]entry, bool) {
	if reported(n) {
		return nil, false
	}
	if n.Kind != yaml.MappingNode {
		if isNull(n) {
			d.errAt(n, path, "has no value", "give it a value, or remove the key")
			return nil, false
		}
		d.errAt(n, path, fmt.Sprintf("expected %s, found %s", what, describe(n)), hint)
		return nil, false
	}
	var out []entry
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.AliasNode || (k.Tag == "!!merge" && k.Style&yaml.TaggedStyle == 0) {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.errAt(k, path, fmt.Sprintf("mapping key is %s; keys must be plain strings", describe(k)), "write key: value")
			continue
		}
		p := joinKey(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.errAt(k, p, fmt.Sprintf("duplicate key %q (first at line %d:%d)", k.Value, first.Line, first.Column), "remove one of them")
			continue
		}
		seen[k.Value] = k
		out = append(out, entry{key: k.Value, k: k, v: v, path: p})
	}
	return out, true
}

// unknownKey reports a key that is not part of the schema, suggesting the
// closest known key.
func (d *fileDecoder) unknownKey(e entry, known []string, extra map[string]string) {
	hint := extra[e.key]
	if hint == "" {
		if s := closest(e.key, known); s != "" {
			hint = fmt.Sprintf("did you mean %q?", s)
		} else {
			hint = "known keys: " + strings.Join(known, ", ")
		}
	}
	d.errAt(e.k, e.path, fmt.Sprintf("unknown key %q", e.key), hint)
}

// closest returns the known key within edit distance 2 of k, if any.
func closest(k string, known []string) string {
	best, bestD := "", 3
	lk := strings.ToLower(k)
	for _, c := range known {
		if d := editDistance(lk, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// reported: aliases and explicitly tagged nodes were reported by
// checkNoYAMLReferences; the schema walk skips them without a second
// finding.
func reported(n *yaml.Node) bool {
	return n.Kind == yaml.AliasNode || n.Style&yaml.TaggedStyle != 0
}

// hasMergeKey reports a "<<" key in a mapping: its app is judged
// incomplete rather than missing what the merge would have provided.
func hasMergeKey(n *yaml.Node) bool {
	for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Tag == "!!merge" && k.Style&yaml.TaggedStyle == 0 {
			return true
		}
	}
	return false
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// text returns the text of a scalar. Any scalar is accepted and taken as
// written ("8080", "true", "1.0" stay as typed): used for names, argv words,
// env values, domains and paths. Null, lists and mappings are refused.
func (d *fileDecoder) text(n *yaml.Node, path, hint string) (string, bool) {
	switch {
	case reported(n):
		return "", false
	case isNull(n):
		d.errAt(n, path, "has no value", nonEmpty(hint, "give it a value, or remove the key"))
		return "", false
	case n.Kind != yaml.ScalarNode:
		d.errAt(n, path, "expected a string, found "+describe(n), hint)
		return "", false
	}
	return n.Value, true
}

// integer returns a YAML integer (decimal, 0x, 0o, 0b) within [lo, hi].
// A quoted number is refused: numeric fields are numbers.
func (d *fileDecoder) integer(n *yaml.Node, path string, lo, hi int64) (int64, bool) {
	rng := fmt.Sprintf("write a whole number from %d to %d", lo, hi)
	switch {
	case reported(n):
		return 0, false
	case isNull(n):
		d.errAt(n, path, "has no value", rng+", or remove the key")
		return 0, false
	case n.Kind != yaml.ScalarNode || n.Tag != "!!int":
		hint := rng
		if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
			if _, err := strconv.ParseInt(strings.TrimSpace(n.Value), 10, 64); err == nil {
				hint = "write the number without quotes"
			}
		}
		d.errAt(n, path, "expected a whole number, found "+describe(n), hint)
		return 0, false
	}
	var v int64
	if err := n.Decode(&v); err != nil || v < lo || v > hi {
		d.errAt(n, path, fmt.Sprintf("%s %s is out of range", lastKey(path), n.Value), rng)
		return 0, false
	}
	return v, true
}

// boolean returns a YAML boolean. YAML 1.2 booleans only (true/false):
// yes/no/on/off are strings in YAML 1.2 and refused, not guessed.
func (d *fileDecoder) boolean(n *yaml.Node, path string) (bool, bool) {
	switch {
	case reported(n):
		return false, false
	case n.Kind != yaml.ScalarNode || n.Tag != "!!bool":
		d.errAt(n, path, "expected true or false, found "+describe(n), "write true or false")
		return false, false
	}
	var v bool
	if err := n.Decode(&v); err != nil {
		d.errAt(n, path, "expected true or false", "write true or false")
		return false, false
	}
	return v, true
}

// list returns the items of a sequence node.
func (d *fileDecoder) list(n *yaml.Node, path, hint string) ([]*yaml.Node, bool) {
	switch {
	case reported(n):
		return nil, false
	case isNull(n):
		d.errAt(n, path, "has no value", nonEmpty(hint, "give it a list, or remove the key"))
		return nil, false
	case n.Kind != yaml.SequenceNode:
		d.errAt(n, path, "expected a list, found "+describe(n), hint)
		return nil, false
	}
	return n.Content, true
}

func nonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
