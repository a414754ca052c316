package stops

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// A tenant's stop holds all its apps; start of the tenant clears its
// apps' stops too; the first stop's who and when stay; the record
// survives a save and a load, and a missing file is no stop.
func TestRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "stopped.json")
	r, err := Load(path)
	if err != nil || len(r.Stops) != 0 {
		t.Fatalf("missing record: %v %v", r, err)
	}
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	if !r.Add(Stop{Tenant: "a", App: "w", By: "alice", Since: t0}) || r.Add(Stop{Tenant: "a", App: "w", By: "bob", Since: t0.Add(time.Hour)}) {
		t.Fatal("Add: want a change, then none")
	}
	r.Add(Stop{Tenant: "d", By: "bob", Since: t0})
	for _, c := range []struct {
		tenant, app string
		want        bool
	}{{"a", "w", true}, {"a", "x", false}, {"d", "any", true}, {"b", "w", false}} {
		if got := r.Stopped(c.tenant, c.app); got != c.want {
			t.Errorf("Stopped(%s, %s) = %v", c.tenant, c.app, got)
		}
	}
	if s, _ := r.Of("a", "w"); s.By != "alice" {
		t.Errorf("the first stop's operator is gone: %+v", s)
	}
	if err := Save(path, r, "no-such-group-here"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode without the group: %v %v", fi.Mode(), err)
	}
	back, err := Load(path)
	if err != nil || !reflect.DeepEqual(back, r) {
		t.Errorf("load after save: %+v %v, want %+v", back, err, r)
	}
	if gone := back.Remove("a", ""); len(gone) != 1 || back.Stopped("a", "w") || !back.Stopped("d", "x") {
		t.Errorf("Remove(a): %v, left %+v", gone, back)
	}
}
