package manifest

// The table of app fields (fields.go) against everything else that lists
// them: rawApp, App, schema.json and docs/MANIFEST.md. A field added in one
// place and forgotten in another fails here, not in a user's editor.

import (
	"encoding/json"
	"maps"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAppFieldsUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range appFields {
		if seen[f.key] {
			t.Errorf("appFields lists %q twice", f.key)
		}
		seen[f.key] = true
		if f.decode == nil || f.member == nil {
			t.Errorf("appFields[%q] has no decoder; build entries with fieldOf", f.key)
		}
	}
}

// Every field[T] member of rawApp belongs to exactly one entry: a member
// without one would be parsed by nobody and silently stay unset.
func TestAppFieldsCoverRawApp(t *testing.T) {
	var a rawApp
	owner := map[uintptr]string{} // member's address -> key
	for _, f := range appFields {
		p := reflect.ValueOf(f.member(&a)).Pointer()
		if k, dup := owner[p]; dup {
			t.Errorf("appFields[%q] and appFields[%q] share one member of rawApp", k, f.key)
		}
		owner[p] = f.key
	}
	v := reflect.ValueOf(&a).Elem()
	for i := range v.NumField() {
		sf := v.Type().Field(i)
		if !strings.HasPrefix(sf.Type.Name(), "field[") {
			continue
		}
		if _, ok := owner[v.Field(i).UnsafeAddr()]; !ok {
			t.Errorf("rawApp.%s has no entry in appFields", sf.Name)
		}
	}
}

// Every App field but the app's identity is written by some entry's
// assign: one that no entry writes would reach the generator as a zero.
func TestAppFieldsCoverApp(t *testing.T) {
	// A value per member type, different from the field's default.
	samples := map[reflect.Type]any{
		reflect.TypeFor[field[string]]():            field[string]{set: true, ok: true, val: "x"},
		reflect.TypeFor[field[[]string]]():          field[[]string]{set: true, ok: true, val: []string{"x"}},
		reflect.TypeFor[field[int]]():               field[int]{set: true, ok: true, val: 2},
		reflect.TypeFor[field[int64]]():             field[int64]{set: true, ok: true, val: 2},
		reflect.TypeFor[field[bool]]():              field[bool]{set: true, ok: true, val: true},
		reflect.TypeFor[field[time.Duration]]():     field[time.Duration]{set: true, ok: true, val: 2 * time.Hour},
		reflect.TypeFor[field[[]domainAt]]():        field[[]domainAt]{set: true, ok: true, val: []domainAt{{name: "x.example"}}},
		reflect.TypeFor[field[[]secretAt]]():        field[[]secretAt]{set: true, ok: true, val: []secretAt{{name: "x"}}},
		reflect.TypeFor[field[map[string]envVal]](): field[map[string]envVal]{set: true, ok: true, val: map[string]envVal{"X": {val: "x"}}},
		reflect.TypeFor[field[TLS]]():               field[TLS]{set: true, ok: true, val: TLS{Mode: TLSFiles, CertFile: "c.pem", KeyFile: "k.pem"}},
		reflect.TypeFor[field[[]netip.Prefix]]():    field[[]netip.Prefix]{set: true, ok: true, val: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
	}
	base := (&rawApp{}).build("t", "f")
	written := map[string]bool{"Tenant": true, "Name": true, "File": true}
	for _, f := range appFields {
		var a rawApp
		m := reflect.ValueOf(f.member(&a)).Elem()
		s, ok := samples[m.Type()]
		if !ok {
			t.Errorf("appFields[%q]: no sample of %s in this test; add one", f.key, m.Type())
			continue
		}
		m.Set(reflect.ValueOf(s))
		got, want := reflect.ValueOf(*a.build("t", "f")), reflect.ValueOf(*base)
		for i := range got.NumField() {
			if !got.Type().Field(i).IsExported() {
				continue
			}
			if !reflect.DeepEqual(got.Field(i).Interface(), want.Field(i).Interface()) {
				written[got.Type().Field(i).Name] = true
			}
		}
	}
	for _, sf := range reflect.VisibleFields(reflect.TypeFor[App]()) {
		if sf.IsExported() && !written[sf.Name] {
			t.Errorf("App.%s is written by no entry of appFields", sf.Name)
		}
	}
}

// schema.json's app and kit definitions have a property per entry and no
// other (the kit's "kit" is its own name, also an entry).
func TestAppFieldsInSchema(t *testing.T) {
	data, err := os.ReadFile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Definitions map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"definitions"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, def := range []string{"app", "kit"} {
		props := doc.Definitions[def].Properties
		if len(props) == 0 {
			t.Fatalf("schema.json has no definitions.%s.properties", def)
		}
		sameKeys(t, "schema.json definitions."+def, slices.Sorted(maps.Keys(props)), false)
	}
}

// docs/MANIFEST.md's "App fields" table has a row per entry, in the
// table's order, and no other.
func TestAppFieldsInDocs(t *testing.T) {
	data, err := os.ReadFile("../docs/MANIFEST.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## App fields\n")
	if !ok {
		t.Fatal(`docs/MANIFEST.md has no "## App fields" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var keys []string
	for line := range strings.Lines(section) {
		// A row: | `key` | type, default | meaning |
		rest, ok := strings.CutPrefix(line, "| `")
		if !ok {
			continue
		}
		key, _, ok := strings.Cut(rest, "`")
		if !ok {
			t.Errorf("docs/MANIFEST.md: cannot read the key of row %q", line)
			continue
		}
		keys = append(keys, key)
	}
	sameKeys(t, `docs/MANIFEST.md "App fields"`, keys, true)
}

// sameKeys compares keys with appFields' keys; with ordered, their order
// too.
func sameKeys(t *testing.T, where string, keys []string, ordered bool) {
	t.Helper()
	for _, k := range keys {
		if !slices.Contains(appKeys, k) {
			t.Errorf("%s has %q, which is not in appFields (fields.go)", where, k)
		}
	}
	for _, k := range appKeys {
		if !slices.Contains(keys, k) {
			t.Errorf("%s lacks %q of appFields (fields.go)", where, k)
		}
	}
	if ordered && !t.Failed() && !slices.Equal(keys, appKeys) {
		t.Errorf("%s lists the fields as %v, appFields as %v: keep one order", where, keys, appKeys)
	}
}
