// Package layout resolves the host paths of package naming below an
// overridable Root (docs/DESIGN.md "Names and paths"), so tests and the
// systemd generator can run against a throwaway tree; on a real host Root
// is "/".
package layout

import (
	"path/filepath"

	"github.com/ehecoatl/ehecoatl/naming"
)

// Layout resolves Ehecoatl's host paths below Root.
type Layout struct {
	// Root is prepended to every path; "" or "/" means the real host.
	Root string
}

// Host is the layout of the real host.
var Host = Layout{Root: "/"}

func (l Layout) join(p string) string {
	if l.Root == "" {
		return p
	}
	return filepath.Join(l.Root, p)
}

// Path is any host path below Root.
func (l Layout) Path(p string) string { return l.join(p) }

// Etc is the installed manifest directory (/etc/ehecoatl), also apply's default DIR.
func (l Layout) Etc() string { return l.join(EtcDir) }

// Secrets is the root-only directory of tenant secrets (/etc/ehecoatl/secrets).
func (l Layout) Secrets() string { return l.join(SecretsDir) }

// State is Ehecoatl's own bookkeeping (/var/lib/ehecoatl): the applied-state record.
func (l Layout) State() string { return l.join(StateDir) }

// Stops is the record of the operator's stops (/var/lib/ehecoatl/stopped.json).
func (l Layout) Stops() string { return l.join(naming.StopsFile) }

// AppState is where systemd keeps DynamicUser state directories (/var/lib/private).
func (l Layout) AppState() string { return l.join(naming.PrivateStateDir) }

// AppStateLinks is where systemd keeps the compatibility symlinks of those (/var/lib).
func (l Layout) AppStateLinks() string { return l.join(naming.StateLinkDir) }

// GeneratorOut is the normal output directory systemd passes to generators.
func (l Layout) GeneratorOut() string { return l.join(GeneratorDir) }

// Guest-side absolute paths, package naming's under the names this
// package's callers use. Units always name these, whatever Root is,
// because systemd resolves them on the host it runs on.
const (
	EtcDir       = naming.ManifestDir
	SecretsDir   = naming.SecretsDir
	StateDir     = naming.StateDir
	RunDir       = naming.RunDir
	GeneratorDir = naming.GeneratorDir
	Bin          = naming.Bin
	RouterUnit   = naming.RouterUnit
	RouterGroup  = naming.RouterGroup
)
