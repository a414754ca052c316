package units

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// EnvFile serializes variables for EnvironmentFile= (systemd.exec(5)):
// one KEY="value" line per variable, sorted by key. Inside the double
// quotes systemd's parser unescapes \" \\ \$ and \` and nothing else, and
// expands no variables, so every value survives byte for byte. Keys must
// match [A-Za-z_][A-Za-z0-9_]*; values hold no control characters.
//
// Values kept in such a file, rather than in Environment= lines, change
// without a daemon-reload (systemd reads the file at every start) and are
// not shown to every local user by `systemctl show` or the unit file.
func EnvFile(vars map[string]string) ([]byte, error) {
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	for _, k := range keys {
		if err := checkEnv(k, vars[k]); err != nil {
			return nil, fmt.Errorf("units: environment file: %w", err)
		}
		b.WriteString(k)
		b.WriteString(`="`)
		for _, r := range vars[k] {
			if strings.ContainsRune("\"\\$`", r) {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		b.WriteString("\"\n")
	}
	return b.Bytes(), nil
}

// ParseEnvFile is the inverse of EnvFile, for tests and readers: it accepts
// exactly what EnvFile writes.
func ParseEnvFile(data []byte) (map[string]string, error) {
	vars := map[string]string{}
	for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line == "" {
			continue
		}
		k, q, ok := strings.Cut(line, "=")
		if !ok || !validEnvKey(k) || len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' {
			return nil, fmt.Errorf("line %d: not KEY=\"value\"", i+1)
		}
		var v strings.Builder
		body := q[1 : len(q)-1]
		for j := 0; j < len(body); j++ {
			c := body[j]
			switch {
			case c == '\\':
				if j+1 >= len(body) || !strings.ContainsRune("\"\\$`", rune(body[j+1])) {
					return nil, fmt.Errorf("line %d: bad escape", i+1)
				}
				j++
				v.WriteByte(body[j])
			case strings.IndexByte("\"$`", c) >= 0:
				return nil, fmt.Errorf("line %d: unescaped %q", i+1, c)
			default:
				v.WriteByte(c)
			}
		}
		if _, dup := vars[k]; dup {
			return nil, errors.New("duplicate key " + k)
		}
		vars[k] = v.String()
	}
	return vars, nil
}
