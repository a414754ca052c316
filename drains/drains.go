// Package drains is the record of the workers a rollout takes out of
// rotation (naming.DrainFile): apply writes it before it restarts a worker
// and the router reads it at every load, sending no new request to the
// sockets it lists; the router answers in naming.RouterDrained which of
// them have no request left in flight (docs/OPERATIONS.md "Deploys"). A
// leaf beside naming and stops, so that the router links no apply.
package drains

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/ehecoatl/ehecoatl/atomicfile"
)

// Serve marks a line of the drain record that puts a socket in rotation
// instead of out of it: "+acme/web-next.sock". Only the second slot of an
// app of one worker (naming.App.NextSocketPath) is ever listed so; it is
// out of rotation whenever the record does not say this (docs/OPERATIONS.md
// "Deploys"). A socket is never listed both ways.
const Serve = "+"

// Load reads a list of socket names, one per line, from path (the drain
// record or the router's report); a missing file is an empty list.
func Load(path string) (map[string]bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("drains: %w", err)
	}
	m := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			m[l] = true
		}
	}
	return m, nil
}

// Save writes the record atomically, sorted, 0644 (socket names only; the
// router runs as its own user); an empty record removes the file.
func Save(path string, m map[string]bool) error {
	var names []string
	for n, ok := range m {
		if ok {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("drains: %w", err)
		}
		return nil
	}
	slices.Sort(names)
	if err := atomicfile.Write(path, []byte(strings.Join(names, "\n")+"\n"), 0o644, -1); err != nil {
		return fmt.Errorf("drains: %w", err)
	}
	return nil
}
