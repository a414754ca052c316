package apply

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/generator"
	"github.com/ehecoatl/ehecoatl/history"
	"github.com/ehecoatl/ehecoatl/layout"
)

// TestRollback: apply, change an env value, apply, roll back: the first
// generation's manifests and env are installed again through apply's
// engine (no daemon-reload; the idle app is left to its next request), the history says who did what, and
// a rollback to the current generation is refused with nothing changed.
func TestRollback(t *testing.T) {
	ctx := context.Background()
	l := layout.Layout{Root: t.TempDir()}
	opts := Options{Layout: l, Generator: generator.Options{SourceDir: layout.EtcDir}}
	dir := copyDir(t, "../examples")
	sd := newFake(l)
	if _, err := Apply(ctx, dir, sd, opts); err != nil {
		t.Fatal(err)
	}
	first, _ := installedFiles(l.Etc())
	edit(t, filepath.Join(dir, "tenants/acme.yaml"), "GREETING: 'Hello, 100% \"quoted\" $world'", "GREETING: changed")
	if _, err := Apply(ctx, dir, sd, opts); err != nil {
		t.Fatal(err)
	}
	gens, err := History(l)
	if err != nil || len(gens) != 2 || !gens[0].Current {
		t.Fatalf("history: %+v %v", gens, err)
	}
	if g := gens[0]; g.Summary != "~app acme/web (env.GREETING)" || g.Command != "apply "+dir || g.By == "" || g.Applied.IsZero() {
		t.Errorf("history of the second apply: %+v", g)
	}

	g, err := RollbackTarget(l, "")
	if err != nil || g.Generation != gens[1].Generation {
		t.Fatalf("default target: %+v %v, want %s", g, err, gens[1].Generation)
	}
	p, err := Plan(g.Dir, opts)
	if err != nil || !reflect.DeepEqual(p.AppsChanged, []string{"acme/web"}) {
		t.Fatalf("rollback plan: %+v %v", p, err)
	}
	sd.calls = nil
	res, err := Rollback(ctx, g, sd, Options{Layout: l, Generator: opts.Generator})
	if err != nil || reloadedBy(res) {
		t.Fatalf("rollback: %+v %v", res, err)
	}
	// The app is idle in the fake (its service inactive): a rollout
	// leaves it to its next request, which starts the rolled-back env.
	if len(sd.calls) != 0 {
		t.Errorf("rollback calls %q, want none (the app is idle)", sd.calls)
	}
	if now, _ := installedFiles(l.Etc()); !sameFiles(first, now) {
		t.Error("rollback did not install the first generation's manifests and env again")
	}
	if cur := history.CurrentID(l.Etc()); cur != gens[1].Generation {
		t.Errorf("current is %s, want %s", cur, gens[1].Generation)
	}
	after, _ := History(l)
	if len(after) != 2 || after[0].Generation != gens[1].Generation || after[0].Command != "rollback from "+gens[0].Generation {
		t.Errorf("history after rollback: %+v", after)
	}

	var ce *CurrentError
	if _, err := RollbackTarget(l, "0"); !errors.As(err, &ce) {
		t.Errorf("rollback 0: %v, want a CurrentError", err)
	}
	// Twice: back where it was, like cd -.
	if g, _ := RollbackTarget(l, ""); g.Generation != gens[0].Generation {
		t.Errorf("second default target %s, want %s", g.Generation, gens[0].Generation)
	}
}

// TestRollbackPruneGuard: a rollback that removes most tenants is refused
// without Prune, as apply is, and changes nothing.
func TestRollbackPruneGuard(t *testing.T) {
	ctx := context.Background()
	l := layout.Layout{Root: t.TempDir()}
	opts := Options{Layout: l, Generator: generator.Options{SourceDir: layout.EtcDir}}
	dir := copyDir(t, "../examples")
	keep := []string{"acme"}
	small := copyDir(t, "../examples")
	ents, _ := os.ReadDir(filepath.Join(small, "tenants"))
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), keep[0]) {
			os.Remove(filepath.Join(small, "tenants", e.Name()))
		}
	}
	for _, d := range []string{small, dir} {
		if _, err := Apply(ctx, d, newFake(l), opts); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := installedFiles(l.Etc())
	g, err := RollbackTarget(l, "1")
	if err != nil {
		t.Fatal(err)
	}
	sd := newFake(l)
	var pe *PruneError
	if _, err := Rollback(ctx, g, sd, opts); !errors.As(err, &pe) || !strings.Contains(err.Error(), "run rollback --prune") || len(sd.calls) != 0 {
		t.Fatalf("rollback to one tenant of four: %v, calls %q", err, sd.calls)
	}
	if after, _ := installedFiles(l.Etc()); !sameFiles(before, after) {
		t.Error("a refused rollback changed the installed manifests")
	}
	opts.Prune = true
	if _, err := Rollback(ctx, g, sd, opts); err != nil {
		t.Fatalf("rollback with prune: %v", err)
	}
}

// TestKeepGenerations: an install keeps the current generation and keep
// previous ones, the most recently current (a generation rolled back to
// counts as new), never what an older install moved aside; the history
// forgets what was removed.
func TestKeepGenerations(t *testing.T) {
	ctx := context.Background()
	l := layout.Layout{Root: t.TempDir()}
	opts := Options{Layout: l, Generator: generator.Options{SourceDir: layout.EtcDir}, Keep: 2}
	if err := os.MkdirAll(filepath.Join(l.Etc(), "tenants"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(l.Etc(), "tenants", "old.yaml"), []byte("# an older install\n"), 0o644)
	dir := copyDir(t, "../examples")
	var ids []string
	for i := range 4 {
		if i > 0 {
			edit(t, filepath.Join(dir, "tenants/acme.yaml"), "GREETING: ", "GREETING: x")
		}
		if _, err := Apply(ctx, dir, newFake(l), opts); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, history.CurrentID(l.Etc()))
		// Directory times have a granularity; keep the order certain.
		time.Sleep(10 * time.Millisecond)
	}
	names := func() []string {
		ents, _ := os.ReadDir(filepath.Join(l.Etc(), history.GenerationsDir))
		var n []string
		for _, e := range ents {
			n = append(n, e.Name())
		}
		return n
	}
	gens, _ := History(l)
	var listed []string
	for _, g := range gens {
		listed = append(listed, g.Generation)
	}
	if want := []string{ids[3], ids[2], ids[1]}; !reflect.DeepEqual(listed, want) {
		t.Errorf("kept %v, want %v (the current and 2 previous)", listed, want)
	}
	if n := names(); len(n) != 4 || !strings.HasPrefix(n[len(n)-1], "pre-ehecoatl-tenants-") {
		t.Errorf("generations directory %v, want 3 generations and the older install's tenants", n)
	}
	log, _ := history.Load(HistoryPath(l))
	if len(log.Entries) != 3 {
		t.Errorf("history log keeps %d entries, want 3: %+v", len(log.Entries), log.Entries)
	}
	// Rolling back to the oldest kept makes it the newest: the next apply
	// removes the one before it instead.
	g, _ := RollbackTarget(l, ids[1][:6])
	if _, err := Rollback(ctx, g, newFake(l), opts); err != nil {
		t.Fatal(err)
	}
	edit(t, filepath.Join(dir, "tenants/acme.yaml"), "GREETING: ", "GREETING: y")
	if _, err := Apply(ctx, dir, newFake(l), opts); err != nil {
		t.Fatal(err)
	}
	gens, _ = History(l)
	listed = nil
	for _, g := range gens {
		listed = append(listed, g.Generation)
	}
	if len(listed) != 3 || listed[1] != ids[1] || listed[2] != ids[3] {
		t.Errorf("after rollback to %s and an apply: kept %v", ids[1], listed)
	}
	if info, err := os.Stat(HistoryPath(l)); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("history file: %v %v, want 0600", info, err)
	}
}

// TestCorruptHistory: a history file that cannot be read does not fail
// applies; it is moved aside and a new log begun.
func TestCorruptHistory(t *testing.T) {
	ctx := context.Background()
	l := layout.Layout{Root: t.TempDir()}
	opts := Options{Layout: l, Generator: generator.Options{SourceDir: layout.EtcDir}}
	if err := os.MkdirAll(l.State(), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(HistoryPath(l), []byte("{not json"), 0o600)
	if _, err := Apply(ctx, copyDir(t, "../examples"), newFake(l), opts); err != nil {
		t.Fatalf("apply with a corrupt history: %v", err)
	}
	aside, _ := filepath.Glob(HistoryPath(l) + ".corrupt-*")
	gens, err := History(l)
	if len(aside) != 1 || err != nil || len(gens) != 1 || gens[0].Command == "" {
		t.Errorf("moved aside %v; history %+v %v", aside, gens, err)
	}
}
