package apply

import (
	"context"
	"fmt"

	"github.com/ehecoatl/ehecoatl/history"
	"github.com/ehecoatl/ehecoatl/layout"
)

// History lists the generations kept on the host, newest first
// (docs/OPERATIONS.md "History and rollback").
func History(l layout.Layout) ([]history.Generation, error) {
	log, err := history.Load(HistoryPath(l))
	if err != nil {
		return nil, err
	}
	return history.List(l.Etc(), log)
}

// CurrentError refuses a rollback to the generation that is current:
// there is nothing to do, and nothing was done.
type CurrentError struct{ Generation history.Generation }

func (e *CurrentError) Error() string {
	return fmt.Sprintf("rollback: %s is the current generation: nothing was changed", e.Generation.Generation)
}

// RollbackTarget resolves arg (history.Resolve) to the kept generation
// a rollback re-applies; the current one is a CurrentError.
func RollbackTarget(l layout.Layout, arg string) (history.Generation, error) {
	gens, err := History(l)
	if err != nil {
		return history.Generation{}, fmt.Errorf("rollback: %w", err)
	}
	g, err := history.Resolve(gens, arg)
	if err != nil {
		return g, fmt.Errorf("rollback: %w", err)
	}
	if g.Current {
		return g, &CurrentError{g}
	}
	return g, nil
}

// Rollback re-applies the kept generation g (RollbackTarget): its
// directory is a manifest directory, applied like any other (validation,
// preflight, the lock, the prune guard, the engine, the record), so a
// generation that no longer validates on this host (a secret since
// removed) changes nothing. Its manifests and env come back; secret
// contents are the operator's files and stay as they are. The plan is
// the one against what runs now, like apply's; Plan(g.Dir) shows it.
func Rollback(ctx context.Context, g history.Generation, sd Systemd, opts Options) (*Result, error) {
	opts.command = "rollback from " + orNone(history.CurrentID(opts.Layout.Etc()))
	return Apply(ctx, g.Dir, sd, opts)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
