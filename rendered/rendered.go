// Package rendered is what the translator (package generator) hands
// downstream: the unit files with their owner, the links, per app its unit
// names, the env files, and the digest of the units. It is a leaf apart
// from naming so that plan can work from a rendering without importing the
// translator, and so that everything apply needs from a rendering is
// computed once, by the translator, instead of re-derived (ownership
// parsed back from unit names, env files rendered again).
package rendered

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"sort"

	"github.com/ehecoatl/ehecoatl/naming"
)

// File is one generated unit file.
type File struct {
	// Name is the unit name, which is also the file name.
	Name string
	// Data is the unit's text.
	Data []byte
	// Tenant and App own the unit: both empty for the units all tenants
	// share (ehecoatl.slice, ehecoatl.target), App empty for a tenant's
	// own slice. Not part of the digest: the boot generator writes only
	// names and bytes, and must agree with apply on it.
	Tenant, App string
}

// Link is one symbolic link, e.g. {"sockets.target.wants",
// "ehecoatl-acme-web.socket", "../ehecoatl-acme-web.socket"}; for worker
// instances Name "ehecoatl-acme-web@1.socket", Target
// "../ehecoatl-acme-web@.socket".
type Link struct {
	// Dir is the directory of the link, relative to the output directory.
	Dir string
	// Name is the file name of the link inside Dir.
	Name string
	// Target is the link's target, relative to Dir.
	Target string
}

// App is what the rest of the system needs to know of one rendered app
// besides its files.
type App struct {
	Tenant, Name string
	// Units are its unit names, naming.App.Units with the default run
	// directory: the socket paths are not the rendering's (the router
	// computes its own) and plan does not compare them.
	Units naming.Units
	// Suspended: its tenant is suspended (manifest.Tenant.Suspended), so
	// no link wants its sockets and apply starts none of them.
	Suspended bool
}

// Output is a rendered set of units.
type Output struct {
	// Files, sorted by name.
	Files []File
	// Links, sorted by directory and name.
	Links []Link
	// Apps, sorted by tenant and name.
	Apps []App
	// Env are the env files apply installs below the manifests, keyed by
	// naming.EnvFileRel; an app without env has none. They are rendered
	// once, with the units, so that what plan hashes is what apply
	// installs.
	Env map[string][]byte
}

// Merge appends the files, links, apps and env files of other outputs and
// sorts the result. Names must not repeat (they cannot, across tenants).
func (o *Output) Merge(others ...*Output) {
	for _, x := range others {
		o.Files = append(o.Files, x.Files...)
		o.Links = append(o.Links, x.Links...)
		o.Apps = append(o.Apps, x.Apps...)
		if len(x.Env) > 0 {
			if o.Env == nil {
				o.Env = map[string][]byte{}
			}
			maps.Copy(o.Env, x.Env)
		}
	}
	o.Sort()
}

// Sort puts files, links and apps in their documented order, on which the
// digest depends.
func (o *Output) Sort() {
	sort.Slice(o.Files, func(i, j int) bool { return o.Files[i].Name < o.Files[j].Name })
	sort.Slice(o.Links, func(i, j int) bool {
		if o.Links[i].Dir != o.Links[j].Dir {
			return o.Links[i].Dir < o.Links[j].Dir
		}
		return o.Links[i].Name < o.Links[j].Name
	})
	sort.Slice(o.Apps, func(i, j int) bool {
		if o.Apps[i].Tenant != o.Apps[j].Tenant {
			return o.Apps[i].Tenant < o.Apps[j].Tenant
		}
		return o.Apps[i].Name < o.Apps[j].Name
	})
}

// Digest identifies the units: every file's name and bytes and every link.
// Files and links are sorted, so equal outputs have equal digests. Owners,
// apps and env files are left out: the boot generator writes the digest
// beside the units, and apply compares it with this one to learn whether
// systemd must reload; env files are not units (a change restarts the app
// without a reload).
func (o *Output) Digest() string {
	h := sha256.New()
	for _, f := range o.Files {
		fmt.Fprintf(h, "f %s %d\n", f.Name, len(f.Data))
		h.Write(f.Data)
	}
	for _, l := range o.Links {
		fmt.Fprintf(h, "l %s/%s %s\n", l.Dir, l.Name, l.Target)
	}
	return hex.EncodeToString(h.Sum(nil))
}
