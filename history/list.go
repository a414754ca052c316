package history

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Generation is one kept generation as `ehecoatl history` lists it.
type Generation struct {
	// N is its place in the listing: 0 the current one, 1 the one
	// current before it, and so on (`ehecoatl rollback N`).
	N int `json:"n"`
	Entry
	Current bool `json:"current"`
	// Dir is the generation's directory, a manifest directory itself.
	Dir string `json:"dir"`
}

// GenerationsDir and CurrentLink are where apply installs generations
// below /etc/ehecoatl (docs/DESIGN.md "The installed manifests live in
// generations").
const (
	GenerationsDir = ".generations"
	CurrentLink    = "current"
)

// Kept reports whether name in the generations directory is a generation
// apply made: not one being written (.tmp-*) nor what an older install
// moved aside (pre-ehecoatl-*, the operator's).
func Kept(name string) bool {
	return !strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "pre-ehecoatl-")
}

// CurrentID is the generation etc/current points to, "" when none.
func CurrentID(etc string) string {
	t, err := os.Readlink(filepath.Join(etc, CurrentLink))
	if err != nil {
		return ""
	}
	return filepath.Base(t)
}

// List returns the generations kept under etc, newest first: the current
// one, then the others by when they were last current. A generation the
// log does not know (installed before it) takes its directory's time and
// no operator.
func List(etc string, log *Log) ([]Generation, error) {
	dir := filepath.Join(etc, GenerationsDir)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	cur := CurrentID(etc)
	var gens []Generation
	for _, e := range ents {
		if !e.IsDir() || !Kept(e.Name()) {
			continue
		}
		g := Generation{Dir: filepath.Join(dir, e.Name()), Current: e.Name() == cur}
		if le, ok := log.find(e.Name()); ok {
			g.Entry = le
		} else {
			g.Generation = e.Name()
			if fi, err := e.Info(); err == nil {
				g.Applied = fi.ModTime().UTC()
			}
		}
		gens = append(gens, g)
	}
	sort.SliceStable(gens, func(i, j int) bool {
		if gens[i].Current != gens[j].Current {
			return gens[i].Current
		}
		if !gens[i].Applied.Equal(gens[j].Applied) {
			return gens[i].Applied.After(gens[j].Applied)
		}
		return gens[i].Generation < gens[j].Generation
	})
	for i := range gens {
		gens[i].N = i
	}
	return gens, nil
}

// Resolve picks the generation arg names: "" the one current before the
// current one; a number its place in the listing (0 is the current one);
// otherwise a unique prefix of an id of at least 4 characters, as git
// takes commits.
func Resolve(gens []Generation, arg string) (Generation, error) {
	if len(gens) == 0 {
		return Generation{}, errors.New("history: no generations are kept: nothing was applied yet, or only by an Ehecoatl without generations")
	}
	if arg == "" {
		for _, g := range gens {
			if !g.Current {
				return g, nil
			}
		}
		return Generation{}, errors.New("history: no previous generation is kept, only the current one")
	}
	if n, err := strconv.Atoi(arg); err == nil && len(arg) < 4 {
		if n < 0 || n >= len(gens) {
			return Generation{}, fmt.Errorf("history: no generation %d: %d kept (0 to %d; see ehecoatl history)", n, len(gens), len(gens)-1)
		}
		return gens[n], nil
	}
	if len(arg) < 4 {
		return Generation{}, fmt.Errorf("history: %q: give a place in the listing (0 to %d) or at least 4 characters of an id", arg, len(gens)-1)
	}
	var found []Generation
	for _, g := range gens {
		if strings.HasPrefix(g.Generation, arg) {
			found = append(found, g)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return Generation{}, fmt.Errorf("history: no kept generation %q (see ehecoatl history)", arg)
	}
	ids := make([]string, len(found))
	for i, g := range found {
		ids[i] = g.Generation
	}
	return Generation{}, fmt.Errorf("history: %q is ambiguous: %s", arg, strings.Join(ids, ", "))
}
