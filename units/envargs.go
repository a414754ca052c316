package units

import (
	"errors"
	"fmt"
	"strings"
)

// AddExecArgsVar appends an Exec line that runs program with the words of
// the variable argsVar: "program $argsVar". systemd replaces a word that
// is only "$VAR" by the value of VAR split into words (EnvArgs says how),
// from the unit's environment at every start, EnvironmentFile= included;
// an unset or empty variable gives no words. program is encoded as by
// AddExec.
func (s *Section) AddExecArgsVar(key, program, argsVar string) {
	enc, err := encodeExec([]string{program}, false)
	if err == nil && !validEnvKey(argsVar) {
		err = fmt.Errorf("variable name %q is invalid: it must match [A-Za-z_][A-Za-z0-9_]*", argsVar)
	}
	s.add(key, enc+" $"+argsVar, err)
}

// EnvArgs encodes words as the value of the variable of AddExecArgsVar.
// systemd 252 splits that value at whitespace and removes quotes
// (replace_env_argv: strv_split_full with EXTRACT_UNQUOTE|EXTRACT_RELAX),
// and a backslash there, inside quotes or not, takes the next byte
// literally (no C escapes); nothing else is expanded, neither '$' nor '%'.
// A word without whitespace, quotes or backslashes is written as it is;
// any other in single quotes, with ' and \ behind a backslash: empty
// words, spaces, quotes, '$', '%', ';' and non-ASCII arrive as written.
// Words must not hold control characters (the value goes into an env
// file, EnvFile).
func EnvArgs(words []string) (string, error) {
	var b strings.Builder
	for i, w := range words {
		if err := checkText(w); err != nil {
			return "", fmt.Errorf("units: argument %d: %w", i+1, err)
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		if w != "" && !strings.ContainsAny(w, " \t\n\r'\"\\") {
			b.WriteString(w)
			continue
		}
		b.WriteByte('\'')
		for j := 0; j < len(w); j++ {
			if w[j] == '\'' || w[j] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(w[j])
		}
		b.WriteByte('\'')
	}
	return b.String(), nil
}

// SplitEnvArgs splits a variable's value into words as systemd 252 does
// for "$VAR" in an Exec line (extract_first_word with EXTRACT_UNQUOTE and
// EXTRACT_RELAX, separators " \t\n\r"): the inverse of EnvArgs, and what
// systemd makes of any other value. An unterminated quote or a trailing
// backslash ends the last word (EXTRACT_RELAX).
func SplitEnvArgs(v string) []string {
	const sep = " \t\n\r"
	var words []string
	i := 0
	for {
		for i < len(v) && strings.IndexByte(sep, v[i]) >= 0 {
			i++
		}
		if i == len(v) {
			return words
		}
		var w []byte
		var quote byte
	word:
		for ; i < len(v); i++ {
			c := v[i]
			switch {
			case c == '\\':
				if i+1 < len(v) {
					i++
					w = append(w, v[i])
				}
			case quote != 0:
				if c == quote {
					quote = 0
				} else {
					w = append(w, c)
				}
			case c == '\'' || c == '"':
				quote = c
			case strings.IndexByte(sep, c) >= 0:
				break word
			default:
				w = append(w, c)
			}
		}
		words = append(words, string(w))
	}
}

// errNoArgsVar is returned by SplitExecArgsVar for a line that is not
// "program $VAR".
var errNoArgsVar = errors.New(`not "program $VAR"`)

// SplitExecArgsVar is the inverse of AddExecArgsVar: the program and the
// variable's name.
func SplitExecArgsVar(encoded string) (program, argsVar string, err error) {
	p, v, ok := strings.Cut(encoded, " $")
	if !ok || !validEnvKey(v) {
		return "", "", fmt.Errorf("units: command line %q: %w", encoded, errNoArgsVar)
	}
	argv, err := SplitExec(p)
	if err != nil {
		return "", "", err
	}
	if len(argv) != 1 {
		return "", "", fmt.Errorf("units: command line %q: %w", encoded, errNoArgsVar)
	}
	return argv[0], v, nil
}
