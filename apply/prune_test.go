package apply

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
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
