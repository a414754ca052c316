package plan

import (
	"fmt"
	"strings"
)

// summaryMax is how many names Summary spells out before it counts: a line
// of `ehecoatl history` stays readable on a host of thousands of apps.
const summaryMax = 6

// Summary is the plan on one line, as `ehecoatl history` shows what an
// apply changed: the tenants and apps added (+), changed (~, with what
// changed, never a value) and removed (-); the unit files when nothing
// else; "no changes" otherwise.
func (p *Plan) Summary() string {
	var parts []string
	n := 0
	add := func(s string) {
		if n < summaryMax {
			parts = append(parts, s)
		}
		n++
	}
	for _, t := range p.TenantsAdded {
		add("+tenant " + t)
	}
	for _, t := range p.TenantsChanged {
		// A tenant changed only through its apps is named by them.
		if len(p.TenantChanges[t]) > 0 || !p.namesAppOf(t) {
			add("~tenant " + t + paren(p.TenantChanges[t]))
		}
	}
	for _, t := range p.TenantsRemoved {
		add("-tenant " + t)
	}
	for _, a := range p.AppsAdded {
		add("+app " + a)
	}
	for _, a := range p.AppsChanged {
		add("~app " + a + paren(p.AppChanges[a]))
	}
	for _, a := range p.AppsRemoved {
		add("-app " + a)
	}
	if n > summaryMax {
		parts = append(parts, fmt.Sprintf("and %d more", n-summaryMax))
	}
	if n == 0 {
		if p.UnitFilesChanged() {
			return fmt.Sprintf("unit files: %d added, %d changed, %d removed", len(p.UnitsAdded), len(p.UnitsChanged), len(p.UnitsRemoved))
		}
		return "no tenant, app or unit changed"
	}
	return strings.Join(parts, "; ")
}

func paren(c []string) string {
	if len(c) == 0 {
		return ""
	}
	return " (" + strings.Join(c, ", ") + ")"
}

func (p *Plan) namesAppOf(tenant string) bool {
	for _, l := range [][]string{p.AppsAdded, p.AppsChanged, p.AppsRemoved} {
		for _, a := range l {
			if strings.HasPrefix(a, tenant+"/") {
				return true
			}
		}
	}
	return false
}
