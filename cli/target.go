package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ehecoatl/ehecoatl/manifest"
)

// resolveTarget turns TENANT or TENANT/APP into the apps it names. An
// unknown name fails (exit 1, as kubectl's "not found") with the installed
// names, for every command that takes a target.
func resolveTarget(set *manifest.Set, target string) ([]*manifest.App, error) {
	tenant, app, hasApp := strings.Cut(target, "/")
	var t *manifest.Tenant
	var names []string
	for _, x := range set.Tenants {
		names = append(names, x.Name)
		if x.Name == tenant {
			t = x
		}
	}
	if t == nil {
		return nil, fmt.Errorf("no tenant %q is installed (installed: %s)", tenant, orNone(names))
	}
	if !hasApp {
		if len(t.Apps) == 0 {
			return nil, fmt.Errorf("tenant %s has no apps", tenant)
		}
		return t.Apps, nil
	}
	names = names[:0]
	for _, a := range t.Apps {
		names = append(names, a.Name)
		if a.Name == app {
			return []*manifest.App{a}, nil
		}
	}
	return nil, fmt.Errorf("tenant %s has no app %q (apps: %s)", tenant, app, orNone(names))
}

func orNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	sort.Strings(l)
	return strings.Join(l, ", ")
}
