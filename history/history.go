// Package history is the log of the generations apply installs
// (/var/lib/ehecoatl/history.json) and the listing `ehecoatl history` and
// `ehecoatl rollback` read: the kept generations of /etc/ehecoatl/.generations,
// newest first, each with when it became current, by whom and what that
// changed (docs/OPERATIONS.md "History and rollback").
package history

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/ehecoatl/ehecoatl/atomicfile"
)

// Entry is what the log knows of one generation: the last time it became
// current.
type Entry struct {
	// Generation is the generation's id, its directory's name.
	Generation string    `json:"generation"`
	Applied    time.Time `json:"applied"`
	// By is the operator who ran the command (stops.Operator).
	By string `json:"by"`
	// Command is what installed it: "apply DIR" or "rollback from ID".
	Command string `json:"command"`
	// Summary is the plan of that switch on one line (plan.Plan.Summary).
	Summary string `json:"summary"`
}

// Log is the history file: one entry per kept generation, newest first.
type Log struct {
	Entries []Entry `json:"entries"`
}

// Load reads the log at path; a missing file is an empty log (an install
// from before the log, or no apply yet).
func Load(path string) (*Log, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Log{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	var l Log
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, &CorruptError{Path: path, Err: err}
	}
	return &l, nil
}

// CorruptError is a log that cannot be read back (a disk that lost
// writes, a hand edit).
type CorruptError struct {
	Path string
	Err  error
}

func (e *CorruptError) Error() string { return fmt.Sprintf("history: %s: %v", e.Path, e.Err) }
func (e *CorruptError) Unwrap() error { return e.Err }

// Save writes the log atomically, root's alone (0600): it names operators
// and what they changed.
func Save(path string, l *Log) error {
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if err := atomicfile.Write(path, append(b, '\n'), 0o600, -1); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	return nil
}

// Add records that e.Generation became current: its entry moves to the
// front, replacing the one of an earlier time it was current.
func (l *Log) Add(e Entry) {
	l.Entries = slices.DeleteFunc(l.Entries, func(o Entry) bool { return o.Generation == e.Generation })
	l.Entries = append([]Entry{e}, l.Entries...)
}

// Keep drops the entries of generations that are no longer kept.
func (l *Log) Keep(kept func(id string) bool) {
	l.Entries = slices.DeleteFunc(l.Entries, func(e Entry) bool { return !kept(e.Generation) })
}

func (l *Log) find(id string) (Entry, bool) {
	for _, e := range l.Entries {
		if e.Generation == id {
			return e, true
		}
	}
	return Entry{}, false
}
