package history

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// DefaultKeep is how many generations apply keeps besides the current
// one when the host does not say (Kamal and Dokku keep 5; a generation is
// a few kilobytes of YAML).
const DefaultKeep = 10

// SettingsFile holds the CLI's host settings, KEY=VALUE lines as systemd's
// EnvironmentFile= reads them; KeepKey is the number of generations kept.
const (
	SettingsFile = "/etc/default/ehecoatl"
	KeepKey      = "EHECOATL_KEEP_GENERATIONS"
)

// Keep reads KeepKey from the settings file at path: DefaultKeep when the
// file or the key is absent; a value that is not a whole number of at
// least 1 is an error (a typo must not prune every previous generation).
func Keep(path string) (int, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return DefaultKeep, nil
	}
	if err != nil {
		return 0, fmt.Errorf("history: %w", err)
	}
	defer f.Close()
	keep := DefaultKeep
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || strings.TrimSpace(k) != KeepKey {
			continue
		}
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, fmt.Errorf("history: %s: %s=%q: want a whole number of at least 1", path, KeepKey, v)
		}
		keep = n
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("history: %s: %w", path, err)
	}
	return keep, nil
}
