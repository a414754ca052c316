package units

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// AddExec appends an Exec line (ExecStart=, ExecStartPost=, ...) from an
// argv, per systemd.service(5) "COMMAND LINES": argv[0] must be a clean
// absolute path; every word is quoted when needed ("" for an empty word,
// \" and \\ inside quotes), '%' becomes "%%", '$' becomes "$$" (no variable
// expansion ever) and a word ";" becomes "\;". Prefixes such as "-" or "@"
// are not supported.
func (s *Section) AddExec(key string, argv []string) {
	enc, err := encodeExec(argv, false)
	s.add(key, enc, err)
}

// AddExecSpecifier is AddExec for an argv whose words may hold the
// specifiers %i %I %n %N %p (and "%%" for '%'). systemd substitutes them
// before it splits the line into words, so a word holding one is always
// quoted: an instance name with a space stays one argument.
func (s *Section) AddExecSpecifier(key string, argv []string) {
	enc, err := encodeExec(argv, true)
	s.add(key, enc, err)
}

func encodeExec(argv []string, spec bool) (string, error) {
	if err := checkArgv(argv); err != nil {
		return "", err
	}
	words := make([]string, len(argv))
	for i, a := range argv {
		if a == ";" {
			words[i] = `\;`
			continue
		}
		w := strings.ReplaceAll(a, "$", "$$")
		if spec && strings.Contains(w, "%") {
			w = quoted(w)
		} else {
			w = quoteWord(w)
		}
		w, err := encodePercent(w, spec)
		if err != nil {
			return "", fmt.Errorf("argv[%d]: %w", i, err)
		}
		words[i] = w
	}
	return strings.Join(words, " "), nil
}

// checkArgv holds what AddExec requires of an argv and SplitExec of its
// result.
func checkArgv(argv []string) error {
	if len(argv) == 0 {
		return errors.New("empty argv (an empty Exec value would reset the list)")
	}
	for i, a := range argv {
		if err := checkText(a); err != nil {
			return fmt.Errorf("argv[%d]: %w", i, err)
		}
	}
	p := argv[0]
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("argv[0] %q is not an absolute path", p)
	case strings.HasSuffix(p, "/"):
		return fmt.Errorf("argv[0] %q names a directory", p)
	case path.Clean(p) != p:
		return fmt.Errorf("argv[0] %q is not a clean path (want %q)", p, path.Clean(p))
	case strings.Contains(p, "$"):
		return fmt.Errorf("argv[0] %q holds '$': systemd does not expand the executable path, so it cannot be escaped", p)
	case strings.ContainsAny(p, "\"'\\"):
		return fmt.Errorf("argv[0] %q holds a quote or backslash, which systemd refuses in an executable path", p)
	case len(p) >= 4096:
		return fmt.Errorf("argv[0] is longer than PATH_MAX")
	}
	for _, c := range strings.Split(p, "/") {
		if len(c) > 255 {
			return fmt.Errorf("argv[0]: path component %.20q... is longer than 255 bytes", c)
		}
	}
	return nil
}

// SplitExec is the inverse of AddExec: it returns the argv systemd runs for
// the encoded command line. Several commands (";"), prefixes, variable
// references and specifiers other than "%%" are errors.
func SplitExec(encoded string) ([]string, error) {
	return Specifiers(nil).SplitExec(encoded)
}

// SplitExec is the inverse of AddExec and AddExecSpecifier: specifiers are
// replaced by their values in sp first, as systemd does.
func (sp Specifiers) SplitExec(encoded string) ([]string, error) {
	argv, err := sp.splitExec(encoded)
	if err != nil {
		return nil, fmt.Errorf("units: command line %q: %w", encoded, err)
	}
	return argv, nil
}

func (sp Specifiers) splitExec(encoded string) ([]string, error) {
	s, err := expandSpecifiers(encoded, sp)
	if err != nil {
		return nil, err
	}
	words, err := splitCommand(s)
	if err != nil {
		return nil, err
	}
	for i, w := range words {
		if words[i], err = unDollar(w); err != nil {
			return nil, fmt.Errorf("argv[%d]: %w", i, err)
		}
	}
	return words, checkArgv(words)
}

// splitCommand splits one command line into words as systemd's
// config_parse_exec does, including its special cases for ";" and "\;".
func splitCommand(s string) ([]string, error) {
	var words []string
	for i := skipSpace(s, 0); i < len(s); {
		rest := s[i:]
		if len(words) > 0 && rest[0] == ';' && (len(rest) == 1 || isSpace(rest[1])) {
			return nil, errors.New("several commands separated by ';' are not supported")
		}
		if len(words) > 0 && strings.HasPrefix(rest, `\;`) && (len(rest) == 2 || isSpace(rest[2])) {
			words = append(words, ";")
			i = skipSpace(s, i+2)
			continue
		}
		w, next, ok, err := extractWord(s, i)
		if err != nil {
			return nil, fmt.Errorf("word %d: %w", len(words), err)
		}
		if !ok {
			break
		}
		if len(words) == 0 && w == ";" {
			return nil, errors.New("several commands separated by ';' are not supported")
		}
		words = append(words, w)
		i = next
	}
	return words, nil
}

// unDollar undoes the "$$" of AddExec; any other '$' would be a variable
// reference, which Ehecoatl never writes.
func unDollar(w string) (string, error) {
	if !strings.Contains(w, "$") {
		return w, nil
	}
	var b strings.Builder
	for i := 0; i < len(w); i++ {
		if w[i] != '$' {
			b.WriteByte(w[i])
			continue
		}
		if i+1 == len(w) || w[i+1] != '$' {
			return "", fmt.Errorf("'$' at byte %d is a variable reference (a literal '$' is written \"$$\")", i)
		}
		b.WriteByte('$')
		i++
	}
	return b.String(), nil
}
