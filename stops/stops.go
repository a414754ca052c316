// Package stops is the record of the operator's stops: `ehecoatl stop
// TENANT[/APP]` writes one, `ehecoatl start` clears it, and until then
// apply starts none of the stopped sockets, the boot-time generator leaves
// them out of ehecoatl.target, the router answers their domains with 503
// and status shows who stopped them and since when (docs/OPERATIONS.md
// "Stopping and suspending"). A leaf beside naming, so that the router and
// the generator read the record without linking apply.
package stops

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/ehecoatl/ehecoatl/atomicfile"
)

// Stop is one operator stop: a whole tenant (App "") or one app.
type Stop struct {
	Tenant string    `json:"tenant"`
	App    string    `json:"app,omitempty"`
	By     string    `json:"by"`
	Since  time.Time `json:"since"`
}

// Target is "tenant" or "tenant/app", as the CLI takes it.
func (s Stop) Target() string {
	if s.App == "" {
		return s.Tenant
	}
	return s.Tenant + "/" + s.App
}

// Record is the whole file.
type Record struct {
	Stops []Stop `json:"stops"`
}

// Load reads the record at path; a missing file is an empty record.
func Load(path string) (Record, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Record{}, nil
	}
	if err != nil {
		return Record{}, fmt.Errorf("stops: %w", err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, fmt.Errorf("stops: %s: %w", path, err)
	}
	return r, nil
}

// Of returns the stop that holds an app: its tenant's, else its own.
func (r Record) Of(tenant, app string) (Stop, bool) {
	var own Stop
	found := false
	for _, s := range r.Stops {
		if s.Tenant != tenant {
			continue
		}
		if s.App == "" {
			return s, true
		}
		if s.App == app {
			own, found = s, true
		}
	}
	return own, found
}

// Stopped reports whether an app is held by a stop; a func for
// generator.Hold and plan.State.Hold.
func (r Record) Stopped(tenant, app string) bool {
	_, ok := r.Of(tenant, app)
	return ok
}

// Add records s unless the same target is stopped already (the first
// stop's who and when stay); it reports whether the record changed.
func (r *Record) Add(s Stop) bool {
	for _, o := range r.Stops {
		if o.Tenant == s.Tenant && o.App == s.App {
			return false
		}
	}
	r.Stops = append(r.Stops, s)
	sort.Slice(r.Stops, func(i, j int) bool { return r.Stops[i].Target() < r.Stops[j].Target() })
	return true
}

// Remove clears the stop of a target: of a tenant (app ""), its own and
// every one of its apps'. It returns what it cleared.
func (r *Record) Remove(tenant, app string) []Stop {
	var kept, gone []Stop
	for _, s := range r.Stops {
		if s.Tenant == tenant && (app == "" || s.App == app) {
			gone = append(gone, s)
			continue
		}
		kept = append(kept, s)
	}
	r.Stops = kept
	return gone
}

// Save writes the record atomically (temp file, fsync, rename), mode 0640
// owned by root and group (the router's, which reads it at every reload);
// 0600 when the group does not exist.
func Save(path string, r Record, group string) error {
	if r.Stops == nil {
		r.Stops = []Stop{}
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("stops: %w", err)
	}
	// The router's group reads it; without that group (a test root),
	// root only.
	mode, gid := os.FileMode(0o600), -1
	if g, err := user.LookupGroup(group); err == nil {
		if id, err := strconv.Atoi(g.Gid); err == nil {
			mode, gid = 0o640, id
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("stops: %w", err)
	}
	if err := atomicfile.Write(path, append(b, '\n'), mode, gid); err != nil {
		return fmt.Errorf("stops: %w", err)
	}
	return nil
}

// Operator names who runs the command: the user behind sudo, else the
// login user (the audit loginuid survives su), else the process's user.
func Operator() string {
	if u := os.Getenv("SUDO_USER"); u != "" {
		return u
	}
	if b, err := os.ReadFile("/proc/self/loginuid"); err == nil {
		if id := string(b); id != "" && id != "4294967295" {
			if u, err := user.LookupId(id); err == nil {
				return u.Username
			}
		}
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "uid " + strconv.Itoa(os.Getuid())
}
