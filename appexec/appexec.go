// Package appexec is the previous release's way of carrying an app's
// command from its env file to the launcher (cmd/ehecoatl-exec): the
// argv as the variables EHECOATL_ARGV_0 ... EHECOATL_ARGV_<n-1>, one word
// each, which the launcher takes out of its environment before it execs
// the app with the rest. The generator now writes the program into the
// unit and the arguments into EHECOATL_ARGS (docs/DESIGN.md "The app's
// command"); the package keeps the launcher for units that systemd loaded
// before an upgrade's daemon-reload, and the generator refuses these
// names as env keys.
//
// A leaf that imports only strconv: the launcher links it and must start
// fast.
package appexec

import "strconv"

// Prefix starts the name of every variable that holds an argv word.
// Manifests may not name env keys EHECOATL_* (docs/MANIFEST.md "env").
const Prefix = "EHECOATL_ARGV_"

// Vars returns the variables that carry argv: Prefix+"0" is argv[0]
// (what the previous release's generator wrote; the launcher's tests).
func Vars(argv []string) map[string]string {
	vars := make(map[string]string, len(argv))
	for i, w := range argv {
		vars[Prefix+strconv.Itoa(i)] = w
	}
	return vars
}

// Error says why an environment holds no command.
type Error string

func (e Error) Error() string { return string(e) }

// Split takes the argv out of environ ("KEY=value" entries): it returns
// the words in order and the other entries as they came. The words must
// be numbered 0 to n-1 without a gap or a repeat, in decimal without
// leading zeros, and there must be at least one.
func Split(environ []string) (argv, rest []string, err error) {
	rest = make([]string, 0, len(environ))
	var words []string
	var seen []bool
	n := 0
	for _, kv := range environ {
		if len(kv) < len(Prefix) || kv[:len(Prefix)] != Prefix {
			rest = append(rest, kv)
			continue
		}
		eq := len(Prefix)
		for eq < len(kv) && kv[eq] != '=' {
			eq++
		}
		if eq == len(kv) {
			return nil, nil, Error("environment entry " + strconv.Quote(kv) + " has no '='")
		}
		num := kv[len(Prefix):eq]
		i, err := strconv.Atoi(num)
		if err != nil || i < 0 || strconv.Itoa(i) != num || i > len(environ) {
			return nil, nil, Error("environment variable " + kv[:eq] + ": not a word number")
		}
		for len(words) <= i {
			words = append(words, "")
			seen = append(seen, false)
		}
		if seen[i] {
			return nil, nil, Error("environment variable " + kv[:eq] + " is set twice")
		}
		words[i], seen[i] = kv[eq+1:], true
		n++
	}
	if n == 0 {
		return nil, nil, Error("no " + Prefix + "0 in the environment: the app's env file holds no command (is it installed by ehecoatl apply?)")
	}
	if n != len(words) {
		for i, ok := range seen {
			if !ok {
				return nil, nil, Error(Prefix + strconv.Itoa(i) + " is missing")
			}
		}
	}
	return words, rest, nil
}
