package main

import (
	"reflect"
	"testing"

	"github.com/ehecoatl/ehecoatl/router"
	"github.com/ehecoatl/ehecoatl/usage"
)

func TestUsageTargets(t *testing.T) {
	apps := []router.AppUnit{
		{Tenant: "acme", App: "api", Services: []string{"ehecoatl-acme-api@1.service", "ehecoatl-acme-api@2.service"}},
		{Tenant: "acme", App: "web", Services: []string{"ehecoatl-acme-web.service"}, Next: []string{"ehecoatl-acme-web-next.service"}},
		{Tenant: "beta", App: "db", Services: []string{"ehecoatl-beta-db.service", "ehecoatl-beta-db-bridge.service"}},
	}
	want := []usage.Target{
		{Tenant: "acme", Unit: "ehecoatl-acme.slice"},
		{Tenant: "acme", App: "api", Unit: "ehecoatl-acme-api@1.service"},
		{Tenant: "acme", App: "api", Unit: "ehecoatl-acme-api@2.service"},
		{Tenant: "acme", App: "web", Unit: "ehecoatl-acme-web.service"},
		{Tenant: "acme", App: "web", Unit: "ehecoatl-acme-web-next.service"},
		{Tenant: "beta", Unit: "ehecoatl-beta.slice"},
		{Tenant: "beta", App: "db", Unit: "ehecoatl-beta-db.service"},
		{Tenant: "beta", App: "db", Unit: "ehecoatl-beta-db-bridge.service"},
	}
	if got := usageTargets(apps); !reflect.DeepEqual(got, want) {
		t.Errorf("usageTargets:\n got %v\nwant %v", got, want)
	}
}
