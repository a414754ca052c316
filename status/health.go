package status

import (
	"fmt"

	"github.com/ehecoatl/ehecoatl/health"
)

// AttachHealth gives each row the router's view of its instances, from
// the record the router keeps (package health; docs/OPERATIONS.md
// "Health checks").
func AttachHealth(rows []App, rec health.Record) {
	by := map[string][]health.Instance{}
	for _, in := range rec.Instances {
		k := in.Tenant + "/" + in.App
		by[k] = append(by[k], in)
	}
	for i := range rows {
		rows[i].Instances = by[rows[i].Tenant+"/"+rows[i].App]
	}
}

// Health sums up an app's instances for a table cell: "up", "down", or
// "N/M up" when some are down; "-" when the router has no record of it.
func (a App) Health() string {
	if len(a.Instances) == 0 {
		return "-"
	}
	up := 0
	for _, in := range a.Instances {
		if in.Health == "up" {
			up++
		}
	}
	switch {
	case up == len(a.Instances):
		return "up"
	case up == 0:
		return "down"
	}
	return fmt.Sprintf("%d/%d up", up, len(a.Instances))
}
