package manifest

// Reading one manifest file into a YAML node tree, defensively: the bytes
// come from a directory that may be edited by people other than the host's
// administrator (white-label setups), and validation runs as root.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// MaxFileSize is the largest manifest file read (1 MiB). A tenant manifest
// is a few hundred bytes; the limit bounds time and memory of a load. A
// larger file is refused from its size, before it is read.
const MaxFileSize = 1 << 20

// readFile reads one manifest file, refusing non-regular files (a FIFO
// would block the load forever) and files above MaxFileSize without
// reading them whole (at most MaxFileSize+1 bytes are read even when the
// file grows or its size is misreported).
func readFile(fsys fs.FS, name string) ([]byte, *problem) {
	st, err := fs.Stat(fsys, name)
	if err != nil {
		return nil, bad("check the file's permissions and that a symbolic link points to an existing file", "cannot read file: %s", errText(err))
	}
	if !st.Mode().IsRegular() {
		return nil, bad("manifests must be regular files (or links to them)", "not a regular file (%s)", st.Mode().Type())
	}
	if st.Size() > MaxFileSize {
		return nil, tooLarge(st.Size())
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, bad("check the file's permissions", "cannot read file: %s", errText(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, bad("check the file's permissions", "cannot read file: %s", errText(err))
	}
	if len(data) > MaxFileSize {
		return nil, tooLarge(-1)
	}
	return data, nil
}

func tooLarge(size int64) *problem {
	const hint = "a manifest is a few kilobytes at most; split it or remove what does not belong in it"
	if size < 0 {
		return bad(hint, "file is larger than 1 MiB")
	}
	return bad(hint, "file is larger than 1 MiB (%d bytes)", size)
}

// errText drops the path fs.PathError repeats (the finding names the file).
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return err.Error()
}

// parseFile turns the bytes of one manifest into its root node (a
// mapping), reporting what makes that impossible. It returns nil when the
// file cannot be used at all.
//
// Decisions:
//   - A file with nothing but whitespace and comments (or a lone "---" or
//     "~") is an error, "empty manifest": deleting a tenant is done by
//     deleting its file, never by emptying it.
//   - The text must be UTF-8 (a BOM is allowed); anything else, and
//     control characters YAML forbids, are reported with line and column
//     before YAML parsing.
//   - One YAML document per file: a "---" starting a second one is an
//     error, since a tenant is one file.
//   - Anchors (&a), aliases (*a), merge keys (<<) and explicit tags (!!str,
//     !custom) are refused everywhere. Kits are the way to share app
//     fields; refusing aliases outright makes alias bombs ("billion
//     laughs") harmless by construction: the alias nodes are never
//     followed, so the work is linear in the file size (which is capped),
//     with no expansion budget to tune.
func parseFile(d *fileDecoder, data []byte) *yaml.Node {
	if len(bytes.TrimSpace(data)) == 0 {
		d.fileErr("empty manifest", d.emptyHint())
		return nil
	}
	if !checkEncoding(d, data) {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := safeDecode(dec, &doc)
	if err == io.EOF {
		d.fileErr("empty manifest", d.emptyHint())
		return nil
	}
	if err != nil {
		syntaxError(d, data, err)
		return nil
	}
	if len(doc.Content) == 0 || (doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].Tag == "!!null" && doc.Content[0].Style&yaml.TaggedStyle == 0) {
		d.fileErr("empty manifest", d.emptyHint())
		return nil
	}
	root := doc.Content[0]
	var next yaml.Node
	switch err := safeDecode(dec, &next); {
	case err == io.EOF:
	case err != nil:
		syntaxError(d, data, err)
		return nil
	default:
		d.c.add(Finding{File: d.file, Line: next.Line, Col: next.Column,
			Message: "file contains more than one YAML document",
			Hint:    "one file holds one " + d.kind + "; remove the \"---\" and what follows, or move it to its own file"})
		return nil
	}
	checkNoYAMLReferences(d, root)
	if root.Kind != yaml.MappingNode {
		if root.Kind != yaml.AliasNode {
			d.errAt(root, "", fmt.Sprintf("expected a mapping of keys to values at the top level, found %s", describe(root)), d.emptyHint())
		}
		return nil
	}
	return root
}

// safeDecode turns a panic of the YAML library (it has had such bugs) into
// an error, so that no input can crash a validation run.
func safeDecode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: internal error of the YAML parser: %v", r)
		}
	}()
	return dec.Decode(n)
}

// parserProblems are the messages of the YAML library's parser (as opposed
// to its scanner): their line needs correcting.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// yamlLine matches the position the YAML library puts in its errors.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// syntaxError reports a YAML syntax error. The library gives a line but no
// column, and leaves out the line when the problem is on the first one.
func syntaxError(d *fileDecoder, data []byte, err error) {
	msg := err.Error()
	line := 1
	m := yamlLine.FindStringSubmatch(msg)
	if m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	hint := "check indentation, quoting and the \":\" after each key"
	if parserProblems[msg] {
		// The library prints the 0-based line of the enclosing block
		// for parser (not scanner) errors.
		if m != nil {
			line++
		}
		hint = "the problem is inside the block that starts on this line; check indentation and quoting"
	}
	if l := nthLine(data, line); strings.HasPrefix(strings.TrimLeft(l, " "), "\t") {
		hint = "indent with spaces; YAML does not allow tabs for indentation"
	} else if strings.Contains(msg, "mapping values are not allowed") {
		hint = "quote values that contain \": \", or check the indentation"
	}
	d.c.add(Finding{File: d.file, Line: line, Message: "invalid YAML: " + msg, Hint: hint})
}

func nthLine(data []byte, n int) string {
	for i := 1; i < n; i++ {
		j := bytes.IndexByte(data, '\n')
		if j < 0 {
			return ""
		}
		data = data[j+1:]
	}
	if j := bytes.IndexByte(data, '\n'); j >= 0 {
		data = data[:j]
	}
	return string(data)
}

// checkEncoding reports the first byte sequence that is not UTF-8 or is a
// character YAML does not allow in a stream (YAML 1.2 §5.1: C0 controls
// other than tab, LF and CR; DEL; C1 controls other than NEL; surrogates;
// U+FFFE and U+FFFF), with its line and column (in characters).
func checkEncoding(d *fileDecoder, data []byte) bool {
	line, col := 1, 1
	i := 0
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		i = 3
	}
	for i < len(data) {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			d.c.add(Finding{File: d.file, Line: line, Col: col,
				Message: fmt.Sprintf("invalid UTF-8 (byte 0x%02x)", data[i]),
				Hint:    "save the file as UTF-8"})
			return false
		case r == '\n':
			line, col = line+1, 1
			i += size
			continue
		case !yamlPrintable(r):
			d.c.add(Finding{File: d.file, Line: line, Col: col,
				Message: fmt.Sprintf("%s is not allowed in YAML", describeRune(r)),
				Hint:    "remove it; inside double quotes escapes such as \\t are allowed, but values cannot contain control characters anyway"})
			return false
		}
		i += size
		col++
	}
	return true
}

func yamlPrintable(r rune) bool {
	switch {
	case r == '\t', r == '\n', r == '\r', r == 0x85:
		return true
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return false
	case r >= 0xd800 && r <= 0xdfff, r == 0xfffe, r == 0xffff:
		return false
	}
	return true
}

// checkNoYAMLReferences refuses anchors, aliases, merge keys and tags
// anywhere in the tree (see parseFile). It never follows an alias, so it
// visits each node of the parsed tree once. Each kind is reported once per
// file, at its first use, with the number of uses: an alias bomb gives
// two findings, not hundreds.
func checkNoYAMLReferences(d *fileDecoder, root *yaml.Node) {
	const share = "write the value out; to share app fields between tenants use a kit (kits/NAME.yaml)"
	type first struct {
		n     *yaml.Node
		path  string
		what  string
		count int
	}
	var anchor, alias, merge, tag first
	note := func(f *first, n *yaml.Node, path, what string) {
		if f.count == 0 {
			f.n, f.path, f.what = n, path, what
		}
		f.count++
	}
	type item struct {
		n    *yaml.Node
		path string
	}
	stack := []item{{root, ""}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n := it.n
		if n == nil {
			continue
		}
		if n.Anchor != "" {
			note(&anchor, n, it.path, "&"+n.Anchor)
		}
		if n.Style&yaml.TaggedStyle != 0 {
			note(&tag, n, it.path, n.Tag)
		}
		switch n.Kind {
		case yaml.AliasNode:
			note(&alias, n, it.path, "*"+n.Value)
			continue // never follow n.Alias
		case yaml.MappingNode:
			for i := len(n.Content) - 2; i >= 0; i -= 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := joinKey(it.path, k.Value)
				if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" && k.Style&yaml.TaggedStyle == 0 {
					note(&merge, k, p, "<<")
				}
				stack = append(stack, item{v, p}, item{k, p})
			}
		case yaml.SequenceNode:
			for i := len(n.Content) - 1; i >= 0; i-- {
				stack = append(stack, item{n.Content[i], index(it.path, i)})
			}
		default:
			for i := len(n.Content) - 1; i >= 0; i-- {
				stack = append(stack, item{n.Content[i], it.path})
			}
		}
	}
	report := func(f first, noun, plural, hint string) {
		if f.count == 0 {
			return
		}
		msg := fmt.Sprintf("YAML %s %q is not supported", noun, f.what)
		if f.count > 1 {
			msg += fmt.Sprintf(" (%d %s in this file)", f.count, plural)
		}
		d.errAt(f.n, f.path, msg, hint)
	}
	report(anchor, "anchor", "anchors", share)
	report(alias, "alias", "aliases", share)
	report(merge, "merge key", "merge keys", share)
	report(tag, "tag", "tags", "remove the tag; quote the value if it must be a string")
}
