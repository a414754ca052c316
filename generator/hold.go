package generator

import "github.com/ehecoatl/ehecoatl/naming"

// Hold drops from o the ehecoatl.target.wants links of the apps for which
// stopped is true (the operator's stops, docs/OPERATIONS.md "Stopping and
// suspending"): their units stay, but neither a boot nor a start of
// ehecoatl.target starts their sockets. The boot-time generator and apply
// both call it with the same record, so that their digests agree.
func Hold(o *Output, stopped func(tenant, app string) bool) {
	if stopped == nil {
		return
	}
	drop := map[string]bool{}
	for _, a := range o.Apps {
		if stopped(a.Tenant, a.Name) {
			for _, s := range a.Units.Sockets {
				drop[s] = true
			}
		}
	}
	if len(drop) == 0 {
		return
	}
	kept := o.Links[:0:0]
	for _, l := range o.Links {
		if l.Dir == naming.SocketsWants && drop[l.Name] {
			continue
		}
		kept = append(kept, l)
	}
	o.Links = kept
}
