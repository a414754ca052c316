package apply

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ehecoatl/ehecoatl/generator"
	"github.com/ehecoatl/ehecoatl/layout"
	"github.com/ehecoatl/ehecoatl/plan"
)

// TestApplyPrune: an apply that would remove more than half of the
// installed tenants is refused before it calls systemd, unless Prune;
// the plan carries the directory's warnings either way.
func TestApplyPrune(t *testing.T) {
	ctx := context.Background()
	l := layout.Layout{Root: t.TempDir()}
	opts := Options{Layout: l, Generator: generator.Options{SourceDir: layout.EtcDir}}
	dir := copyDir(t, "../examples")
	if _, err := Apply(ctx, dir, newFake(l), opts); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"acme", "globex", "initech"} {
		os.Remove(filepath.Join(dir, "tenants", n+".yaml"))
	}
	os.WriteFile(filepath.Join(dir, "tenants", "new.yaml"), []byte("tenant: new\napps:\n  web:\n    command: [/bin/true]\n    listen: activation\n"), 0o644)

	p, err := Plan(dir, opts)
	if err != nil || !p.PruneNeeded || len(p.Warnings) == 0 {
		t.Fatalf("plan: %v, prune needed %v, warnings %v", err, p.PruneNeeded, p.Warnings)
	}
	sd := newFake(l)
	res, err := Apply(ctx, dir, sd, opts)
	var pe *PruneError
	if !errors.As(err, &pe) || len(sd.calls) != 0 {
		t.Fatalf("apply without prune: %v, calls %q", err, sd.calls)
	}
	if len(res.Warnings) == 0 || res.Plan == nil || len(res.Plan.TenantsRemoved) != 3 {
		t.Errorf("refused apply's result: %+v", res)
	}
	if _, err := os.Stat(filepath.Join(l.Etc(), "tenants", "new.yaml")); err == nil {
		t.Error("the refused apply installed the directory")
	}
	opts.Prune = true
	if _, err := Apply(ctx, dir, sd, opts); err != nil {
		t.Fatalf("apply with prune: %v", err)
	}
	if _, err := os.Stat(filepath.Join(l.Etc(), "tenants", "acme.yaml")); err == nil {
		t.Error("apply with prune kept acme")
	}
}

// TestPlanNamesFieldsAfterUpgrade: a record of an older apply holds no
// field hashes; the installed manifests stand in for them, so the first
// plan after an upgrade still names what changed.
func TestPlanNamesFieldsAfterUpgrade(t *testing.T) {
	l := layout.Layout{Root: t.TempDir()}
	opts := Options{Layout: l, Generator: generator.Options{SourceDir: layout.EtcDir}}
	dir := copyDir(t, "../examples")
	if _, err := Apply(context.Background(), dir, newFake(l), opts); err != nil {
		t.Fatal(err)
	}
	st, err := plan.Load(RecordPath(l))
	if err != nil {
		t.Fatal(err)
	}
	for _, ts := range st.Tenants {
		ts.Limits = ""
		for _, as := range ts.Apps {
			as.Fields, as.Domains, as.Secrets, as.StateDir = nil, nil, nil, ""
		}
	}
	if err := plan.Save(RecordPath(l), st); err != nil {
		t.Fatal(err)
	}
	if p, err := Plan(dir, opts); err != nil || !p.Empty() {
		t.Fatalf("plan against the older record: %v %+v", err, p)
	}
	edit(t, filepath.Join(dir, "tenants/acme.yaml"), "GREETING: 'Hello, 100% \"quoted\" $world'", "GREETING: changed")
	p, err := Plan(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.AppChanges["acme/web"]; !reflect.DeepEqual(got, []string{"env.GREETING"}) {
		t.Errorf("app changes %q, want env.GREETING", got)
	}
}

// TestPerWorkerStateNoted: the per-worker state directories of an older
// Ehecoatl are named beside their app, and only beside it.
func TestPerWorkerStateNoted(t *testing.T) {
	l := layout.Layout{Root: t.TempDir()}
	for _, d := range []string{"ehecoatl-acme-web-1", "ehecoatl-acme-web-2", "ehecoatl-acme-web", "ehecoatl-acme-web2", "ehecoatl-acme-api-x"} {
		if err := os.MkdirAll(filepath.Join(l.AppState(), d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	want := &plan.State{Tenants: map[string]*plan.TenantState{"acme": {Apps: map[string]*plan.AppState{
		"web":  {StateDir: "/var/lib/private/ehecoatl-acme-web"},
		"web2": {StateDir: "/var/lib/private/ehecoatl-acme-web2"},
		"api":  {StateDir: "/var/lib/private/ehecoatl-acme-api"},
	}}}}
	p := plan.Diff(want, want)
	notePerWorkerState(p, want, l)
	if got := p.State["acme/web"]; !strings.Contains(got, "/var/lib/private/ehecoatl-acme-web-1, /var/lib/private/ehecoatl-acme-web-2 of an older Ehecoatl") {
		t.Errorf("acme/web: %q", got)
	}
	if len(p.State) != 1 {
		t.Errorf("notes %q, want acme/web's only", p.State)
	}
}
