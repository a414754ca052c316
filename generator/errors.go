package generator

import "fmt"

// InvariantError is an app (or tenant slice) of a validated set that the
// generator cannot render. Every manifest rule lives in package manifest,
// which reports it with file:line:col and a hint; the generator trusts a
// validated set, so this error means validation let something through:
// a bug to report, not a mistake of the manifest's author.
type InvariantError struct {
	File string // the tenant file, relative to the set's directory
	App  string // "" for the tenant's slice
	Err  error
}

func (e *InvariantError) Error() string {
	at := e.File
	if e.App != "" {
		at += ": apps." + e.App
	}
	return fmt.Sprintf("generator: internal error: %s: %v (validation should have refused this; please report it)", at, e.Err)
}

func (e *InvariantError) Unwrap() error { return e.Err }
