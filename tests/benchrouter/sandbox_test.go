package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// generated renders the hello app of a tenant as apply would.
func generated(t *testing.T, listen string) string {
	t.Helper()
	dir := t.TempDir()
	if err := writeHelloManifest(dir, "acme", listen); err != nil {
		t.Fatal(err)
	}
	gen, err := generatedUnits(dir)
	if err != nil {
		t.Fatal(err)
	}
	u, ok := gen["ehecoatl-acme-web.service"]
	if !ok {
		t.Fatalf("no ehecoatl-acme-web.service in %v", keysOf(gen))
	}
	return u
}

func keysOf(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// The minimal reference keeps everything of the generated unit but its
// sandbox, which becomes exactly DynamicUser, ProtectSystem=strict and
// PrivateNetwork.
func TestMinimalUnit(t *testing.T) {
	for _, listen := range []string{"listen: activation", "port: 8080"} {
		t.Run(listen, func(t *testing.T) {
			gen := generated(t, listen)
			min, err := minimalUnit(gen)
			if err != nil {
				t.Fatal(err)
			}
			keys, err := sandboxKeys()
			if err != nil {
				t.Fatal(err)
			}
			var sandbox, rest []string
			for _, l := range serviceLines(min) {
				k, _, _ := assignment(l)
				if slices.Contains(keys, k) {
					sandbox = append(sandbox, l)
				} else {
					rest = append(rest, l)
				}
			}
			if !slices.Equal(sandbox, minimalSandbox) {
				t.Errorf("sandbox of the minimal unit: %q, want %q", sandbox, minimalSandbox)
			}
			var genRest []string
			for _, l := range serviceLines(gen) {
				if k, _, _ := assignment(l); !slices.Contains(keys, k) {
					genRest = append(genRest, l)
				}
			}
			if !slices.Equal(rest, genRest) || !slices.ContainsFunc(rest, func(l string) bool { return strings.HasPrefix(l, "ExecStart=/") }) {
				t.Errorf("rest of [Service]: %q, want the generator's %q", rest, genRest)
			}
			if !strings.Contains(min, "[Unit]\n") || !strings.Contains(min, "Requires=ehecoatl-acme-web") {
				t.Errorf("[Unit] lost:\n%s", min)
			}
			// Sanity of the keys: the full sandbox has the profile's
			// mount and seccomp options, the minimal one none.
			for _, k := range []string{"RootDirectory", "PrivateUsers", "SystemCallFilter", "IPAddressDeny"} {
				if !slices.Contains(keys, k) || !strings.Contains(gen, "\n"+k+"=") || strings.Contains(min, "\n"+k+"=") {
					t.Errorf("%s: in keys %v, in generated %v, in minimal %v", k, slices.Contains(keys, k), strings.Contains(gen, "\n"+k+"="), strings.Contains(min, "\n"+k+"="))
				}
			}
		})
	}
}

// Every variant differs from the full profile in exactly its keys.
func TestBuildVariants(t *testing.T) {
	keys, err := sandboxKeys()
	if err != nil {
		t.Fatal(err)
	}
	full := sandboxOf(generated(t, "listen: activation"), keys)
	vs := buildVariants(full, [][]string{{"ProtectHome", "PrivateIPC"}})
	ids := map[string]bool{}
	seen := map[string]bool{}
	for _, v := range vs {
		if ids[v.id] {
			t.Errorf("variant id %s twice", v.id)
		}
		ids[v.id] = true
		if filepath.Base(v.unit()) != v.unit() || strings.ContainsAny(v.id, " =/") {
			t.Errorf("variant id %q is not a unit name part", v.id)
		}
		switch v.kind {
		case "minus":
			if !slices.Equal(v.lines, without(full, v.keys)) || len(v.lines) == len(full) {
				t.Errorf("%s: lines %q, want full without %v", v.id, v.lines, v.keys)
			}
			if len(v.keys) == 1 {
				seen[v.keys[0]] = true
			}
		case "plus":
			if strings.HasPrefix(v.id, "s-") {
				i := slices.IndexFunc(optionSwaps, func(sw struct {
					id, name string
					drop     []string
					add      []string
				}) bool {
					return sw.id == v.id
				})
				if i < 0 || slices.Equal(v.lines, full) || !slices.Equal(v.lines, slices.Concat(without(full, optionSwaps[i].drop), optionSwaps[i].add)) {
					t.Errorf("%s: lines %q, want full with the swap", v.id, v.lines)
				}
			} else if len(v.lines) != len(full)+1 || !slices.Equal(v.lines[:len(full)], full) {
				t.Errorf("%s: lines %q, want full plus one", v.id, v.lines)
			}
		}
		u := v.benchUnit()
		if !strings.Contains(u, "\nExecStart=/usr/local/lib/ehecoatl-test/benchrouter true\n") || strings.Count(u, "Type=") != 1 || !strings.Contains(u, "StartLimitIntervalSec=0") {
			t.Errorf("%s: unit:\n%s", v.id, u)
		}
	}
	for _, l := range full {
		if k, _, _ := assignment(l); k != "Type" && !seen[k] {
			t.Errorf("no variant without %s", k)
		}
	}
	for _, id := range []string{"none", "minimal", "full", "g-mountns", "g-seccomp", "g-net", "p-cred", "candidate1", "s-binds"} {
		if !ids[id] {
			t.Errorf("no variant %s", id)
		}
	}
}

func TestAppendService(t *testing.T) {
	in := "[Unit]\nA=1\n\n[Service]\nB=2\n\n[Install]\nC=3\n"
	got := appendService(in, []string{"D=4"})
	if want := "[Unit]\nA=1\n\n[Service]\nB=2\nD=4\n\n[Install]\nC=3\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := appendService("[Service]\nB=2\n", []string{"D=4"}), "[Service]\nB=2\nD=4\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := dropKeys("[Unit]\nB=0\n[Service]\nB=2\nC=3\nB=4\n", []string{"B"}), "[Unit]\nB=0\n[Service]\nC=3\n"; got != want {
		t.Errorf("dropKeys: got %q, want %q", got, want)
	}
}
