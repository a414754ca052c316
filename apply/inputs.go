package apply

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ehecoatl/ehecoatl/atomicfile"
	"github.com/ehecoatl/ehecoatl/layout"
	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/plan"
)

// inputs are what the applied state was rendered from, kept beside the
// record (InputsPath) so that an apply of the same inputs need neither
// validate and render the directory nor decode the record of thousands of
// apps (unchanged.go), and the part of the rendering its steps need.
type inputs struct {
	// Key hashes every input but Reads: the binary, the options, the
	// directory and the operator's stops (inputsKey).
	Key string `json:"key"`
	// Reads are the reads validation made (manifest.Observer), made again
	// by the next apply, and Results a hash of what each gave.
	Reads   []string `json:"reads"`
	Results []string `json:"results"`
	// Record is the hash of applied.json's bytes: these inputs describe
	// that record and no other (an apply killed between writing the two
	// leaves a record they do not match).
	Record string `json:"record"`
	// Digest is the rendering's digest, the held apps' links dropped.
	Digest string `json:"digest"`
	// Apps are what the steps take of each app ("tenant/app").
	Apps map[string]appRun `json:"apps"`
	// Needs name the optional host features the set uses (preflight).
	Needs []string `json:"needs,omitempty"`
	// Warnings are the validation warnings, printed again.
	Warnings []warning `json:"warnings,omitempty"`
	// Generation is the id of the generation the apply left current, and
	// Installed a hash of what its files are (installedStamp).
	Generation string `json:"generation"`
	Installed  string `json:"installed"`
}

// appRun is what the steps of an apply take of one app.
type appRun struct {
	Sockets  []string `json:"sockets"`
	Services []string `json:"services"`
	StateDir string   `json:"state_dir,omitempty"`
	Held     string   `json:"held,omitempty"`
}

// warning is a manifest.Finding of warning severity, as recorded.
type warning struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Col     int    `json:"col,omitempty"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

// InputsPath is where the inputs of the applied state are kept.
func InputsPath(l layout.Layout) string { return filepath.Join(l.State(), "applied-inputs.json") }

func warningsOf(findings []manifest.Finding) []warning {
	var out []warning
	for _, f := range findings {
		if f.Severity == manifest.Warning {
			out = append(out, warning{f.File, f.Line, f.Col, f.Path, f.Message, f.Hint})
		}
	}
	return out
}

func (in *inputs) findings() []manifest.Finding {
	out := []manifest.Finding{}
	for _, w := range in.Warnings {
		out = append(out, manifest.Finding{Severity: manifest.Warning, File: w.File, Line: w.Line, Col: w.Col, Path: w.Path, Message: w.Message, Hint: w.Hint})
	}
	return out
}

func appsOf(st *plan.State) map[string]appRun {
	apps := map[string]appRun{}
	for tn, t := range st.Tenants {
		for an, a := range t.Apps {
			apps[tn+"/"+an] = appRun{a.Sockets, a.Services, a.StateDir, a.Held}
		}
	}
	return apps
}

// state is the part of the applied state the steps read: every app's
// sockets, services, state directory and hold, no unit or field hashes.
// Planned against itself it gives the steps of a no-op.
func (in *inputs) state() *plan.State {
	st := &plan.State{Tenants: map[string]*plan.TenantState{}}
	for id, a := range in.Apps {
		tn, an, _ := strings.Cut(id, "/")
		t := st.Tenants[tn]
		if t == nil {
			t = &plan.TenantState{Apps: map[string]*plan.AppState{}}
			st.Tenants[tn] = t
		}
		t.Apps[an] = &plan.AppState{Sockets: a.Sockets, Services: a.Services, StateDir: a.StateDir, Held: a.Held}
	}
	return st
}

// loadInputs reads the inputs kept beside the record; nil when there are
// none, or when they do not describe the record as it is (its bytes'
// hash).
func loadInputs(l layout.Layout) (*inputs, error) {
	b, err := os.ReadFile(InputsPath(l))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var in inputs
	if err := json.Unmarshal(b, &in); err != nil {
		// Unreadable inputs only cost a rendering.
		return nil, nil
	}
	rec, err := os.ReadFile(RecordPath(l))
	if err != nil || hashBytes(rec) != in.Record {
		return nil, nil
	}
	return &in, nil
}

func hashBytes(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// saveInputs keeps in beside the record, after it (nil removes them): a
// crash in between leaves inputs whose Record hash no record has.
func saveInputs(l layout.Layout, in *inputs) error {
	path := InputsPath(l)
	if in == nil {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	rec, err := os.ReadFile(RecordPath(l))
	if err != nil {
		return err
	}
	in.Record = hashBytes(rec)
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() == 0o600 {
			return nil
		}
	}
	return atomicfile.Write(path, b, 0o600, -1)
}
