package plan

import "testing"

func TestSummary(t *testing.T) {
	for _, tc := range []struct {
		p    Plan
		want string
	}{
		{Plan{}, "no tenant, app or unit changed"},
		{Plan{UnitsChanged: []string{"ehecoatl.target"}}, "unit files: 0 added, 1 changed, 0 removed"},
		{Plan{TenantsAdded: []string{"acme"}, AppsAdded: []string{"acme/web"}}, "+tenant acme; +app acme/web"},
		// A tenant changed through its apps only is named by them.
		{Plan{TenantsChanged: []string{"acme"}, AppsChanged: []string{"acme/web"},
			AppChanges: map[string][]string{"acme/web": {"env.GREETING", "command"}}}, "~app acme/web (env.GREETING, command)"},
		{Plan{TenantsChanged: []string{"acme", "beta"}, TenantChanges: map[string][]string{"acme": {"limits"}},
			AppsChanged: []string{"acme/web"}}, "~tenant acme (limits); ~tenant beta; ~app acme/web"},
		{Plan{TenantsRemoved: []string{"a", "b", "c", "d"}, AppsRemoved: []string{"a/w", "b/w", "c/w", "d/w"}},
			"-tenant a; -tenant b; -tenant c; -tenant d; -app a/w; -app b/w; and 2 more"},
	} {
		if got := tc.p.Summary(); got != tc.want {
			t.Errorf("Summary() = %q, want %q", got, tc.want)
		}
	}
}
