package main

import (
	"fmt"
	"slices"
	"strings"
)

// variant is one sandbox of the option-cost section: the [Service]
// assignments of a service that runs `benchrouter true`.
type variant struct {
	id    string // unit name part: ehecoatl-optbench-<id>.service
	name  string // in the table
	kind  string // "base", "minus" (full without it), "plus" (full with it or with another value)
	keys  []string
	lines []string
}

func (v variant) unit() string { return "ehecoatl-optbench-" + v.id + ".service" }

// optionGroups are the options systemd implements together (one kernel
// mechanism each), removed from the full profile at once.
var optionGroups = []struct {
	id, name string
	keys     []string
}{
	// The mount namespace: every option that adds a mount or a mount
	// table entry to it. DynamicUser= keeps one of its own
	// (ProtectSystem=strict, PrivateTmp=), as in the minimal sandbox.
	{"g-mountns", "group: mount namespace (all but DynamicUser's)", []string{
		"RootDirectory", "MountAPIVFS", "BindReadOnlyPaths", "TemporaryFileSystem", "ProtectHome",
		"PrivateTmp", "PrivateDevices", "ProtectKernelTunables", "ProtectKernelModules",
		"ProtectKernelLogs", "ProtectControlGroups", "ProtectProc", "ProcSubset", "PrivateMounts",
		"InaccessiblePaths", "ReadOnlyPaths"}},
	{"g-root", "group: the empty root (RootDirectory, MountAPIVFS, binds, tmpfs)", []string{
		"RootDirectory", "MountAPIVFS", "BindReadOnlyPaths", "TemporaryFileSystem"}},
	{"g-kernel", "group: ProtectKernel*, ProtectControlGroups", []string{
		"ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups"}},
	// Each of these is a seccomp filter of its own.
	{"g-seccomp", "group: seccomp (SystemCall*, Restrict*, LockPersonality)", []string{
		"SystemCallFilter", "SystemCallArchitectures", "SystemCallErrorNumber", "RestrictNamespaces",
		"RestrictRealtime", "LockPersonality", "RestrictAddressFamilies", "MemoryDenyWriteExecute"}},
	{"g-net", "group: network (PrivateNetwork, IPAddress* BPF)", []string{
		"PrivateNetwork", "IPAddressDeny", "IPAddressAllow"}},
}

// optionAdditions are options measured on top of the full profile:
// credentials (apps with secrets) and options the profile does not set.
var optionAdditions = []struct{ id, name, line string }{
	{"p-cred", "LoadCredential= (one secret)", "LoadCredential=bench:/srv/optbench/secret"},
	{"p-procsubset", "ProcSubset=pid", "ProcSubset=pid"},
	{"p-kerneltunables", "ProtectKernelTunables=yes", "ProtectKernelTunables=yes"},
	{"p-mdwe", "MemoryDenyWriteExecute=yes", "MemoryDenyWriteExecute=yes"},
}

// optionSwaps replace options of the full profile with others that
// protect the same at a lower start cost.
var optionSwaps = []struct {
	id, name string
	drop     []string
	add      []string
}{
	// The sandbox root links /bin, /sbin and /lib* into /usr (a merged
	// /usr, as on every Debian 12); before, it had empty directories
	// there and the profile bound each of them: that root is oldRoot,
	// which the section makes. The swap that equals the profile is left
	// out, so on either side of that change the other is measured.
	{"s-links", "BindReadOnlyPaths=/usr /etc only (links for /bin...)", []string{"BindReadOnlyPaths"}, []string{"BindReadOnlyPaths=/usr /etc"}},
	{"s-binds", "binds for /bin, /sbin, /lib* on the root of directories (before the links)", []string{"RootDirectory", "BindReadOnlyPaths"}, []string{"RootDirectory=" + oldRoot, "BindReadOnlyPaths=/usr /etc -/bin -/sbin -/lib -/lib64 -/lib32 -/libx32"}},
	// ProtectKernelTunables= makes about 20 paths read-only, one mount
	// each; /proc/sys and /sys read-only are two ("+": inside
	// RootDirectory=).
	{"s-rosys", "ProtectKernelTunables= -> ReadOnlyPaths=+/proc/sys +/sys", []string{"ProtectKernelTunables"}, []string{"ReadOnlyPaths=+/proc/sys +/sys"}},
	// ProcSubset=pid hides /proc/sys with the rest of /proc's non-process
	// files, an option of the /proc mount, not a mount of its own.
	{"s-procsubset", "ReadOnlyPaths=+/proc/sys -> ProcSubset=pid", []string{"ReadOnlyPaths"}, []string{"ReadOnlyPaths=+/sys", "ProcSubset=pid"}},
}

// oldRoot is the sandbox root of the release before the links: the
// package's root with empty 0555 directories for /bin, /sbin and /lib*.
const oldRoot = "/run/ehecoatl-bench-oldroot"

// oldRootScript makes oldRoot in the guest.
const oldRootScript = `rm -rf ` + oldRoot + ` && cp -a /run/ehecoatl-root ` + oldRoot + ` && cd ` + oldRoot + ` &&
for d in bin sbin lib lib64 lib32 libx32; do rm -f "$d"; mkdir -m 0555 "$d"; done`

// skipKeys are [Service] keys of the full profile that are not measured
// one at a time: the start type, which every variant shares.
var skipKeys = []string{"Type"}

// buildVariants derives every variant from the sandbox lines of a
// generated service (full): no sandbox, the minimal one, full, full
// without each key and each group, full without each candidate's keys,
// full with each swap and addition.
func buildVariants(full []string, candidates [][]string) []variant {
	vs := []variant{
		{id: "none", name: "no sandbox", kind: "base"},
		{id: "minimal", name: "minimal (" + strings.Join(minimalSandbox, " ") + ")", kind: "base", lines: minimalSandbox},
		{id: "full", name: "full profile", kind: "base", lines: full},
	}
	var keys []string
	for _, l := range full {
		k, _, _ := assignment(l)
		if !slices.Contains(keys, k) && !slices.Contains(skipKeys, k) {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		vs = append(vs, variant{id: "m-" + strings.ToLower(k), name: k + "=", kind: "minus", keys: []string{k}, lines: without(full, []string{k})})
	}
	for _, g := range optionGroups {
		var present []string
		for _, k := range g.keys {
			if slices.Contains(keys, k) {
				present = append(present, k)
			}
		}
		if len(present) < 2 {
			continue
		}
		vs = append(vs, variant{id: g.id, name: g.name, kind: "minus", keys: present, lines: without(full, present)})
	}
	for i, drop := range candidates {
		vs = append(vs, variant{id: fmt.Sprintf("candidate%d", i+1), name: "candidate: full without " + strings.Join(drop, " "), kind: "minus", keys: drop, lines: without(full, drop)})
	}
	for _, sw := range optionSwaps {
		lines := append(without(full, sw.drop), sw.add...)
		if len(without(full, sw.drop)) == len(full) || sameLines(lines, full) {
			continue
		}
		vs = append(vs, variant{id: sw.id, name: "~ " + sw.name, kind: "plus", keys: sw.drop, lines: lines})
	}
	for _, a := range optionAdditions {
		if slices.Contains(full, a.line) {
			continue
		}
		k, _, _ := assignment(a.line)
		vs = append(vs, variant{id: a.id, name: "+ " + a.name, kind: "plus", keys: []string{k}, lines: append(slices.Clone(full), a.line)})
	}
	return vs
}

// without returns lines minus the assignments of keys.
func without(lines, keys []string) []string {
	var out []string
	for _, l := range lines {
		if k, _, _ := assignment(l); !slices.Contains(keys, k) {
			out = append(out, l)
		}
	}
	return out
}

// benchUnit is a variant's service: `benchrouter true` under its sandbox, started
// as Type=exec (the job is done when execve succeeded, as for an app),
// without a start limit (the section starts each unit many times), and
// kept active after the exit, so that systemd neither collects the unit
// nor forgets the start's timestamps before the driver reads them.
func (v variant) benchUnit() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[Unit]\nDescription=benchrouter option cost: %s\nStartLimitIntervalSec=0\n\n[Service]\nType=exec\nRemainAfterExit=yes\nExecStart=/usr/local/lib/ehecoatl-test/benchrouter true\n", v.name)
	for _, l := range v.lines {
		if k, _, _ := assignment(l); k != "Type" {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// sandboxOf returns the assignments of a generated service that the
// option-cost section measures: its sandbox options (sandboxKeys) and
// the start type; command, environment, slice and log fields are left
// out (every variant runs `benchrouter true`).
func sandboxOf(generated string, keys []string) []string {
	var out []string
	for _, l := range serviceLines(generated) {
		if k, _, _ := assignment(l); slices.Contains(keys, k) {
			out = append(out, l)
		}
	}
	return out
}

// sameLines says whether a and b hold the same assignments, in any order.
func sameLines(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}
