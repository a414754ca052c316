package dbus

import (
	"slices"
	"testing"

	"github.com/ehecoatl/ehecoatl/dbus/internal/fakesystemd"
)

func TestListUnits(t *testing.T) {
	f, c := newFake(t)
	f.AddUnits("ehecoatl-beta-web.socket", "ehecoatl-acme-web.socket", "ehecoatl-acme-web.service", "ehecoatl-acme.slice", "sshd.service")
	f.AddUnit("ehecoatl-acme-api.service", map[string]map[string]any{"Unit": {"ActiveState": "failed", "SubState": "failed"}})
	f.AddUnits("ehecoatl-acme-hang.service")
	f.SetJob("StartUnit", "ehecoatl-acme-hang.service", fakesystemd.Job{Never: true})
	ctx := testCtx(t)
	go c.Start(ctx, "ehecoatl-acme-hang.service") // stays queued

	names := func(us []UnitStatus) []string {
		var n []string
		for _, u := range us {
			n = append(n, u.Name)
		}
		return n
	}
	var got []UnitStatus
	for range 100 { // wait for the queued job to show
		var err error
		if got, err = c.ListUnits(ctx, "ehecoatl-acme-*"); err != nil {
			t.Fatal(err)
		}
		if i := slices.IndexFunc(got, func(u UnitStatus) bool { return u.JobID != 0 }); i >= 0 {
			break
		}
	}
	want := []string{"ehecoatl-acme-api.service", "ehecoatl-acme-hang.service", "ehecoatl-acme-web.service", "ehecoatl-acme-web.socket"}
	if !slices.Equal(names(got), want) {
		t.Fatalf("got %v, want %v (sorted)", names(got), want)
	}
	if got[0].ActiveState != "failed" || got[0].SubState != "failed" || got[0].LoadState != "loaded" || got[0].Description == "" {
		t.Errorf("status: %+v", got[0])
	}
	if got[1].JobID == 0 || got[1].JobType != "start" || got[2].JobID != 0 || got[2].JobType != "" {
		t.Errorf("jobs: %+v %+v", got[1], got[2])
	}

	got, err := c.ListUnits(ctx, "*.slice", "sshd.*")
	if err != nil || !slices.Equal(names(got), []string{"ehecoatl-acme.slice", "sshd.service"}) {
		t.Errorf("two patterns: %v %v", names(got), err)
	}
	got, err = c.ListUnits(ctx)
	if err != nil || len(got) != 7 {
		t.Errorf("no pattern lists all: %v %v", names(got), err)
	}
	if got, err = c.ListUnits(ctx, "nothing-*"); err != nil || len(got) != 0 {
		t.Errorf("no match: %v %v", got, err)
	}
	// systemd filters by state: only the failed one comes back.
	if got, err = c.ListUnitsIn(ctx, []string{"failed"}, "ehecoatl-*"); err != nil || !slices.Equal(names(got), []string{"ehecoatl-acme-api.service"}) {
		t.Errorf("failed units: %v %v", names(got), err)
	}
	if got, err = c.ListUnitsIn(ctx, nil, "ehecoatl-acme-*"); err != nil || len(got) != 4 {
		t.Errorf("no states lists all: %v %v", names(got), err)
	}
}
