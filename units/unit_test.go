package units

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/<name>, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", p, got, want)
	}
}

// trickyService builds a service with the hard cases of every Add*.
func trickyService() *Unit {
	u := New("ehecoatl-acme-web.service")
	un := u.Section("Unit")
	un.Add("Description", `Acme "web" shop, 100% \ ok`)
	un.Add("PartOf", "ehecoatl-acme.slice")
	s := u.Section("Service")
	s.AddExec("ExecStart", []string{"/bin/echo", "a b", "", ";", `"q"`, `it's`, `back\slash`, "$HOME", "100%", "日本語"})
	s.AddExec("ExecStartPost", []string{"/usr/bin/printf", "%s\\n", "done"})
	s.AddEnv("SHOP_MODE", "prod")
	s.AddEnv("TRICKY", ` a "b" 'c' \d $e %f `)
	s.AddList("ReadOnlyPaths", []string{"/srv/shop", "/srv/100%"})
	s.Add("LogExtraFields", "EHECOATL_TENANT=acme")
	s.Add("CapabilityBoundingSet", "")
	u.Section("Install").Add("WantedBy", "multi-user.target")
	return u
}

func TestBytesGolden(t *testing.T) {
	b, err := trickyService().Bytes()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "write/tricky.service", b)
}

func TestBytesFormat(t *testing.T) {
	u := New("x.service")
	if b, err := u.Bytes(); err != nil || len(b) != 0 {
		t.Errorf("empty unit: %q, %v", b, err)
	}
	u.Section("Unit").Add("Description", "x")
	u.Section("Empty")
	u.Section("Service").Add("Type", "exec")
	u.Section("Unit").Add("After", "a.service") // appended to the first [Unit]
	want := "[Unit]\nDescription=x\nAfter=a.service\n\n[Empty]\n\n[Service]\nType=exec\n"
	if b, err := u.Bytes(); err != nil || string(b) != want {
		t.Errorf("got %q, %v; want %q", b, err, want)
	}
}

func TestErrNamesUnitSectionKey(t *testing.T) {
	u := New("ehecoatl-acme-web.service")
	u.Section("Unit").Add("Description", "fine")
	s := u.Section("Service")
	s.AddExec("ExecStart", []string{"shop"})
	s.Add("Description", "second error is not the first")
	const want = `units: ehecoatl-acme-web.service: [Service] ExecStart: argv[0] "shop" is not an absolute path`
	if err := u.Err(); err == nil || err.Error() != want {
		t.Fatalf("Err() = %v, want %s", err, want)
	}
	var e *Error
	if !errors.As(u.Err(), &e) || e.Unit != u.Name || e.Section != "Service" || e.Key != "ExecStart" {
		t.Errorf("errors.As: %+v", e)
	}
	if b, err := u.Bytes(); err == nil || b != nil {
		t.Errorf("Bytes with an error: %q, %v", b, err)
	}
}

func TestSectionErrors(t *testing.T) {
	for _, name := range []string{"", "Ser]vice", "[Service", " Service", `Se"rv`, "A\nB"} {
		u := New("x.service")
		u.Section(name).Add("K", "v")
		if err := u.Err(); err == nil || !strings.Contains(err.Error(), "section name") {
			t.Errorf("section %q: %v", name, err)
		}
	}
	// A section built as a literal, outside any unit, still records errors.
	s := &Section{Name: "Service"}
	s.Add("K", "a\nb")
	u := &Unit{Name: "y.service", Sections: []*Section{s}}
	if err := u.Err(); err == nil || !strings.Contains(err.Error(), "y.service: [Service] K: line break") {
		t.Errorf("literal section: %v", err)
	}
	// So does a bad key.
	for _, key := range []string{"", "Exec Start", "#K", "[K]", "K=V", "-K", "ké"} {
		u := New("z.service")
		u.Section("Service").Add(key, "v")
		if err := u.Err(); err == nil || !strings.Contains(err.Error(), "key") {
			t.Errorf("key %q: %v", key, err)
		}
	}
}

// TestBytesChecksHandBuilt: Sections and Options are exported, so Bytes
// checks them again before writing.
func TestBytesChecksHandBuilt(t *testing.T) {
	cases := []struct {
		s   *Section
		err string
	}{
		{&Section{Name: "Service", Options: []Option{{"ExecStart", "/bin/true\nExecStartPre=/bin/evil"}}}, "control character U+000A"},
		{&Section{Name: "Service", Options: []Option{{"K", "v\\"}}}, "continues the line"},
		{&Section{Name: "Service", Options: []Option{{"K", " v"}}}, "whitespace"},
		{&Section{Name: "Service", Options: []Option{{"K", "\xff"}}}, "UTF-8"},
		{&Section{Name: "Service", Options: []Option{{"K=V", "v"}}}, "key"},
		{&Section{Name: "Service", Options: []Option{{"K", strings.Repeat("x", maxLine)}}}, "longer than"},
		{&Section{Name: "Serv]ice"}, "section name"},
	}
	for _, c := range cases {
		u := &Unit{Name: "x.service", Sections: []*Section{c.s}}
		if _, err := u.Bytes(); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%+v: %v, want %q", c.s, err, c.err)
		}
	}
	ok := &Unit{Name: "x.service", Sections: []*Section{nil, {Name: "Service", Options: []Option{{"K", `a\\`}, {"T", "a\tb"}}}}}
	if b, err := ok.Bytes(); err != nil || string(b) != "[Service]\nK=a\\\\\nT=a\tb\n" {
		t.Errorf("even backslashes and inner tab: %q, %v", b, err)
	}
}

func TestMergeAndLookup(t *testing.T) {
	frag, err := Parse("hardening.conf", []byte("[Service]\nDynamicUser=yes\nSystemCallFilter=@system-service\nSystemCallFilter=~@privileged @resources\n[Unit]\nStartLimitBurst=30\n"))
	if err != nil {
		t.Fatal(err)
	}
	u := New("ehecoatl-acme-web.service")
	u.Section("Service").AddExec("ExecStart", []string{"/srv/shop/bin/shop"})
	u.Merge(frag)
	u.Merge(frag)
	if got := u.Lookup("Service", "SystemCallFilter"); !slices.Equal(got, []string{"@system-service", "~@privileged @resources", "@system-service", "~@privileged @resources"}) {
		t.Errorf("Lookup after two merges: %q", got)
	}
	if got := u.Lookup("Unit", "StartLimitBurst"); !slices.Equal(got, []string{"30", "30"}) {
		t.Errorf("merged [Unit]: %q", got)
	}
	if u.Lookup("Service", "Nope") != nil || u.Lookup("Nope", "ExecStart") != nil {
		t.Error("Lookup of something absent is not nil")
	}
	// The source is untouched and not aliased.
	u.Sections[0].Options[1].Value = "changed"
	if got := frag.Lookup("Service", "DynamicUser"); !slices.Equal(got, []string{"yes"}) || len(frag.Sections[0].Options) != 3 {
		t.Errorf("source modified: %q", frag.Sections[0].Options)
	}
	// An error in the source becomes the destination's.
	bad := New("bad.conf")
	bad.Section("Service").Add("K", "a\nb")
	u.Merge(bad)
	if err := u.Err(); err == nil || !strings.Contains(err.Error(), "merge: units: bad.conf: [Service] K:") {
		t.Errorf("merged error: %v", err)
	}
}
