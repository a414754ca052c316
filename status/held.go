package status

import (
	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/stops"
)

// AttachHolds marks the rows of apps the operator stopped (rec) or whose
// tenant the manifest suspends. A held app that is down is "stopped" (by
// the operator) or "suspended"; one that runs anyway (started by hand
// with systemctl) keeps its state, and the hold is still shown.
func AttachHolds(rows []App, set *manifest.Set, rec stops.Record) {
	suspended := map[string]string{}
	for _, t := range set.Tenants {
		if t.Suspended {
			suspended[t.Name] = t.File
		}
	}
	for i := range rows {
		r := &rows[i]
		if s, ok := rec.Of(r.Tenant, r.App); ok {
			since := s.Since
			r.StoppedBy, r.StoppedSince, r.StoppedTarget = s.By, &since, s.Target()
		}
		if f, ok := suspended[r.Tenant]; ok {
			r.SuspendedIn = f
			if r.State == Stopped {
				r.State = Suspended
			}
		}
	}
}
