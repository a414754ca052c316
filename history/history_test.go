package history

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gensDir makes a generations directory under a temp etc with the given
// generations (and what an older install moved aside), current -> cur.
func gensDir(t *testing.T, cur string, ids ...string) string {
	t.Helper()
	etc := t.TempDir()
	for _, id := range append(ids, "pre-ehecoatl-tenants-1", ".tmp-123") {
		if err := os.MkdirAll(filepath.Join(etc, GenerationsDir, id, "tenants"), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(GenerationsDir, cur), filepath.Join(etc, CurrentLink)); err != nil {
		t.Fatal(err)
	}
	return etc
}

func TestListAndResolve(t *testing.T) {
	etc := gensDir(t, "bbbb2222", "aaaa1111", "bbbb2222", "bbbc3333", "cccc4444")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	log := &Log{}
	log.Add(Entry{Generation: "aaaa1111", Applied: t0, By: "ana", Command: "apply /srv/m"})
	log.Add(Entry{Generation: "bbbc3333", Applied: t0.Add(time.Hour)})
	log.Add(Entry{Generation: "bbbb2222", Applied: t0.Add(2 * time.Hour)})
	log.Add(Entry{Generation: "gone0000", Applied: t0.Add(3 * time.Hour)})
	// Not in the log: its directory's time (now), and still not before
	// the current one.
	gens, err := List(etc, log)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, g := range gens {
		ids = append(ids, g.Generation)
		if g.N != i || g.Current != (i == 0) || !strings.HasSuffix(g.Dir, g.Generation) {
			t.Errorf("generation %d: %+v", i, g)
		}
	}
	if got, want := strings.Join(ids, " "), "bbbb2222 cccc4444 bbbc3333 aaaa1111"; got != want {
		t.Errorf("listed %s, want %s (current first, then by time, not the moved-aside ones)", got, want)
	}
	if gens[3].By != "ana" || gens[3].Command != "apply /srv/m" {
		t.Errorf("the log's entry is not used: %+v", gens[3])
	}
	for _, tc := range []struct{ arg, want, err string }{
		{"", "cccc4444", ""},
		{"0", "bbbb2222", ""},
		{"3", "aaaa1111", ""},
		{"4", "", "no generation 4: 4 kept (0 to 3"},
		{"-1", "", "no generation -1"},
		{"aaaa", "aaaa1111", ""},
		{"bbbc3", "bbbc3333", ""},
		{"bbb", "", "at least 4 characters"},
		{"bbbb", "bbbb2222", ""},
		{"bbb", "", "at least 4 characters"},
		{"dddd", "", `no kept generation "dddd"`},
		{"pre-ehecoatl-tenants-1", "", "no kept generation"},
	} {
		g, err := Resolve(gens, tc.arg)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Resolve(%q): %v, want %q", tc.arg, err, tc.err)
			}
			continue
		}
		if err != nil || g.Generation != tc.want {
			t.Errorf("Resolve(%q) = %s %v, want %s", tc.arg, g.Generation, err, tc.want)
		}
	}
	if _, err := Resolve(gens[:1], ""); err == nil || !strings.Contains(err.Error(), "only the current one") {
		t.Errorf("Resolve without a previous one: %v", err)
	}
	if _, err := Resolve(nil, ""); err == nil || !strings.Contains(err.Error(), "no generations") {
		t.Errorf("Resolve without generations: %v", err)
	}
}

func TestResolveAmbiguous(t *testing.T) {
	gens := []Generation{{Entry: Entry{Generation: "abcd1"}, Current: true}, {Entry: Entry{Generation: "abcd2"}}}
	if _, err := Resolve(gens, "abcd"); err == nil || !strings.Contains(err.Error(), "ambiguous: abcd1, abcd2") {
		t.Errorf("ambiguous prefix: %v", err)
	}
}

func TestLogSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "history.json")
	if l, err := Load(path); err != nil || len(l.Entries) != 0 {
		t.Fatalf("missing log: %+v %v", l, err)
	}
	l := &Log{}
	l.Add(Entry{Generation: "a", By: "ana"})
	l.Add(Entry{Generation: "b"})
	l.Add(Entry{Generation: "a", By: "bo"})
	l.Keep(func(id string) bool { return id != "c" })
	if err := Save(path, l); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil || len(got.Entries) != 2 || got.Entries[0].Generation != "a" || got.Entries[0].By != "bo" || got.Entries[1].Generation != "b" {
		t.Fatalf("loaded %+v %v, want a (by bo) then b", got, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("log mode %v, want 0600", fi.Mode().Perm())
	}
	l.Keep(func(id string) bool { return id == "b" })
	if len(l.Entries) != 1 || l.Entries[0].Generation != "b" {
		t.Errorf("Keep: %+v", l.Entries)
	}
	os.WriteFile(path, []byte("{"), 0o600)
	var bad *CorruptError
	if _, err := Load(path); !errors.As(err, &bad) {
		t.Errorf("a corrupt log: %v, want a CorruptError", err)
	}
}

func TestKeep(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		file string // "" for no file
		want int
		err  string
	}{
		{"", DefaultKeep, ""},
		{"# nothing set\nOTHER=1\n", DefaultKeep, ""},
		{"EHECOATL_KEEP_GENERATIONS=3\n", 3, ""},
		{`EHECOATL_KEEP_GENERATIONS="25"`, 25, ""},
		{" EHECOATL_KEEP_GENERATIONS = 2 ", 2, ""},
		{"EHECOATL_KEEP_GENERATIONS=0", 0, "at least 1"},
		{"EHECOATL_KEEP_GENERATIONS=ten", 0, `EHECOATL_KEEP_GENERATIONS="ten"`},
	} {
		path := filepath.Join(dir, "none")
		if tc.file != "" {
			path = filepath.Join(dir, "ehecoatl")
			os.WriteFile(path, []byte(tc.file), 0o644)
		}
		n, err := Keep(path)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %d %v, want error %q", tc.file, n, err, tc.err)
			}
			continue
		}
		if err != nil || n != tc.want {
			t.Errorf("%q: %d %v, want %d", tc.file, n, err, tc.want)
		}
	}
}
