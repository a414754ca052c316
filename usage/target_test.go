package usage

import (
	"slices"
	"testing"

	"github.com/ehecoatl/ehecoatl/naming"
)

func TestAppTargets(t *testing.T) {
	got := AppTargets([]naming.App{
		{Tenant: "acme", Name: "web", Next: true},
		{Tenant: "acme", Name: "api", Bridge: true, Next: true},
		{Tenant: "globex", Name: "site", Workers: 2},
	})
	want := []Target{
		{"acme", "", "ehecoatl-acme.slice"},
		{"acme", "web", "ehecoatl-acme-web.service"},
		{"acme", "web", "ehecoatl-acme-web-next.service"},
		{"acme", "api", "ehecoatl-acme-api.service"},
		{"acme", "api", "ehecoatl-acme-api-bridge.service"},
		{"acme", "api", "ehecoatl-acme-api-next.service"},
		{"acme", "api", "ehecoatl-acme-api-next-bridge.service"},
		{"globex", "", "ehecoatl-globex.slice"},
		{"globex", "site", "ehecoatl-globex-site@1.service"},
		{"globex", "site", "ehecoatl-globex-site@2.service"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("AppTargets:\n got %v\nwant %v", got, want)
	}
	if k := want[0].Kind(); k != "slice" {
		t.Errorf("Kind of a slice: %q", k)
	}
	if k := want[9].Kind(); k != "service" {
		t.Errorf("Kind of a worker: %q", k)
	}
}
