package tests

// TestPackages checks the .deb and .rpm that `make package` wrote to dist/
// (make test-packages builds them, then runs this test): the linters, what
// rpm and dpkg-deb say about them, that the .rpm's payload names its files
// ./PATH, that a second build of the same sources gives the same bytes, the
// .rpm installed, upgraded and erased by rpm in a scratch root, and, in a
// booted systemd 252, the life of the .deb on a host: install, apply the
// packaged examples and reach them through the packaged router on port 80,
// man pages, bash completion, an upgrade that keeps an edited configuration
// file and keeps serving, removal and purge, and an install without a
// running systemd (a chroot or image build).
//
// It skips unless EHECOATL_PACKAGES names the directory of the packages:
// run `make test-packages`.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/tests/harness"
)

// pkgs are the packages under test.
type pkgs struct {
	deb, rpm string
	version  string // the deb's version; the rpm's is version-1
}

// findPackages returns the packages in $EHECOATL_PACKAGES, which make
// test-packages sets to dist/ right after building them. Without it the
// test skips rather than check whatever older build dist/ may hold (make
// test runs every test).
func findPackages(t *testing.T) pkgs {
	t.Helper()
	dist := os.Getenv("EHECOATL_PACKAGES")
	if dist == "" {
		t.Skip("packages are tested by `make test-packages` (builds dist/, then runs this test with EHECOATL_PACKAGES=dist); " +
			"after `make package`: EHECOATL_PACKAGES=$PWD/dist go test -run TestPackages -v ./tests/")
	}
	debs, _ := filepath.Glob(filepath.Join(dist, "ehecoatl_*_amd64.deb"))
	rpms, _ := filepath.Glob(filepath.Join(dist, "ehecoatl-*.x86_64.rpm"))
	if len(debs) == 0 || len(rpms) == 0 {
		t.Skipf("no packages in %s: run `make test-packages` (or `make package` first)", dist)
	}
	if len(debs) != 1 || len(rpms) != 1 {
		t.Fatalf("want one .deb and one .rpm in %s (make package leaves exactly one of each), found %v %v", dist, debs, rpms)
	}
	v := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(debs[0]), "ehecoatl_"), "_amd64.deb")
	if want := "ehecoatl-" + v + ".x86_64.rpm"; filepath.Base(rpms[0]) != want {
		t.Fatalf("the .rpm is %s, want %s (the .deb's version)", filepath.Base(rpms[0]), want)
	}
	return pkgs{deb: debs[0], rpm: rpms[0], version: v}
}

func TestPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("package test: builds packages and boots a real systemd (run without -short)")
	}
	p := findPackages(t)
	t.Logf("packages: %s, %s", p.deb, p.rpm)

	t.Run("contents", func(t *testing.T) { testContents(t, p) })
	t.Run("rpm", func(t *testing.T) { testRPM(t, p) })
	relative := false
	t.Run("rpm payload", func(t *testing.T) { relative = testPayload(t, p) })
	t.Run("lintian", func(t *testing.T) { testLintian(t, p) })
	t.Run("rpmlint", func(t *testing.T) {
		// rpmlint unpacks with `rpm2cpio | cpio -id`: a payload with an
		// absolute member name would be written into the host's /.
		if !relative {
			t.Fatal("not run: the rpm payload check did not pass, and rpmlint's cpio -id would write absolute member names into the host's /")
		}
		testRpmlint(t, p)
	})

	var upgrade pkgs
	out := t.TempDir() // outlives the subtest
	if !t.Run("rebuild", func(t *testing.T) { upgrade = testRebuild(t, p, out) }) {
		t.Fatal("no upgrade package: cannot test the packages' installation")
	}
	if upgrade.deb == "" {
		t.Log("rebuild not selected by -run: the installation tests need its upgrade packages")
		return
	}
	t.Run("rpm install", func(t *testing.T) { testRPMInstall(t, p, upgrade) })
	t.Run("rpm in systemd", func(t *testing.T) {
		// Not counted as tested: see the skip message.
		t.Skip("not run: applying the examples with the .rpm needs a booted RPM-based systemd (Fedora, RHEL, Rocky), " +
			"and no RPM-based distribution's packages are reachable from this machine (only Debian's archive and the Go module proxy), " +
			"so no such system can be built for systemd-nspawn; the .rpm is checked with rpm, rpmlint and rpm -i/-U/-e --root only")
	})
	t.Run("systemd", func(t *testing.T) { testInSystemd(t, p, upgrade.deb) })
}

// ---- the package files -------------------------------------------------

// packaged lists every path of the packages (files, links, directories
// the package owns on purpose are checked separately), relative to /.
func packaged(t *testing.T) []string {
	t.Helper()
	files := []string{
		"etc/default/ehecoatl-router",
		"usr/bin/ehecoatl",
		"usr/bin/ehecoatl-router",
		"usr/lib/ehecoatl/ehecoatl-exec",
		"usr/lib/ehecoatl/ehecoatl.nft",
		"usr/lib/systemd/catalog/ehecoatl.catalog",
		"usr/lib/systemd/system/ehecoatl-firewall.service",
		"usr/lib/systemd/system/ehecoatl-router.service",
		"usr/lib/systemd/system/ehecoatl-router.socket",
		"usr/lib/sysusers.d/ehecoatl.conf",
		"usr/lib/tmpfiles.d/ehecoatl.conf",
		"usr/share/bash-completion/completions/ehecoatl",
		"usr/share/ehecoatl/schema/manifest.schema.json",
		"usr/share/ehecoatl/grafana/ehecoatl.json",
		"usr/share/ehecoatl/www/index.html",
		"usr/share/fish/vendor_completions.d/ehecoatl.fish",
		"usr/share/man/man1/ehecoatl.1.gz",
		"usr/share/man/man5/ehecoatl.yaml.5.gz",
		"usr/share/man/man8/ehecoatl-router.8.gz",
		"usr/share/polkit-1/rules.d/50-ehecoatl-router.rules",
	}
	// Every file of examples/ is shipped as an example.
	err := filepath.WalkDir(filepath.Join(repo, "examples"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(filepath.Join(repo, "examples"), path)
		files = append(files, "usr/share/doc/ehecoatl/examples/"+filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func testContents(t *testing.T, p pkgs) {
	need(t, "dpkg-deb")
	out := cmdOut(t, "dpkg-deb", "--contents", p.deb)
	// ./usr/bin/ehecoatl -> usr/bin/ehecoatl, with mode and owner.
	entries := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 {
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(f[5], "./"), "/")
		entries[name] = f[0] + " " + f[1]
	}
	want := append(packaged(t),
		"lib/systemd/system-generators/ehecoatl-generator",
		"usr/share/zsh/vendor-completions/_ehecoatl",
		"usr/share/doc/ehecoatl/copyright",
		"usr/share/doc/ehecoatl/changelog.gz",
		"usr/share/lintian/overrides/ehecoatl")
	for _, f := range want {
		if _, ok := entries[f]; !ok {
			t.Errorf("the .deb lacks /%s", f)
		}
	}
	for f, mode := range map[string]string{
		"etc/ehecoatl":         "drwxr-xr-x root/root",
		"etc/ehecoatl/secrets": "drwx------ root/root",
		"usr/bin/ehecoatl":     "-rwxr-xr-x root/root",
		// Every app service runs it.
		"usr/lib/ehecoatl/ehecoatl-exec": "-rwxr-xr-x root/root",
	} {
		if got := entries[f]; got != mode {
			t.Errorf("/%s in the .deb: %q, want %q", f, got, mode)
		}
	}
	for _, f := range []string{"www/index.html", "grafana/ehecoatl.json"} {
		if got := entries["usr/share/doc/ehecoatl/examples/"+f]; !strings.HasPrefix(got, "l") {
			t.Errorf("the examples' %s is %q, want a symbolic link to /usr/share/ehecoatl/%s", f, got, f)
		}
	}
	// Apply's symbolic links and generations are not the package's.
	for f := range entries {
		if strings.HasPrefix(f, "etc/ehecoatl/") && f != "etc/ehecoatl/secrets" {
			t.Errorf("the .deb owns /%s; apply manages everything in /etc/ehecoatl but secrets/", f)
		}
	}
	if got := strings.TrimSpace(cmdOut(t, "dpkg-deb", "--field", p.deb, "Version")); got != p.version {
		t.Errorf("Version: %q, want %q", got, p.version)
	}
	ctl := t.TempDir()
	cmdOut(t, "dpkg-deb", "--control", p.deb, ctl)
	conffiles, _ := os.ReadFile(filepath.Join(ctl, "conffiles"))
	if strings.TrimSpace(string(conffiles)) != "/etc/default/ehecoatl-router" {
		t.Errorf("conffiles: %q, want only /etc/default/ehecoatl-router", conffiles)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		b, err := os.ReadFile(filepath.Join(ctl, s))
		if err != nil {
			t.Errorf("the .deb has no %s: %v", s, err)
			continue
		}
		want, _ := os.ReadFile(filepath.Join(repo, "packaging/scripts/deb", s))
		if !bytes.Equal(b, want) {
			t.Errorf("%s differs from packaging/scripts/deb/%s", s, s)
		}
		if out, err := exec.Command("sh", "-n", filepath.Join(ctl, s)).CombinedOutput(); err != nil {
			t.Errorf("%s: sh -n: %v\n%s", s, err, out)
		}
		// systemctl and deb-systemd-invoke talk to a running systemd only
		// behind the guard (the systemd subtest installs without one).
		checkGuards(t, s, string(b))
	}
}

func testRPM(t *testing.T, p pkgs) {
	need(t, "rpm")
	info := cmdOut(t, "rpm", "-qip", p.rpm)
	for _, re := range []string{
		`(?m)^Name\s*: ehecoatl$`,
		`(?m)^Version\s*: ` + regexp.QuoteMeta(p.version) + `$`,
		`(?m)^Release\s*: 1$`,
		`(?m)^Architecture: x86_64$`,
		`(?m)^License\s*: Apache-2.0 AND BSD-2-Clause AND BSD-3-Clause AND MIT$`,
		`(?m)^URL\s*: https://github.com/ehecoatl/ehecoatl$`,
		`(?m)^Summary\s*: Multi-tenant app runtime built on systemd$`,
		`(?m)^Build Host\s*: reproducible$`,
		`socket-activated`,
	} {
		if !regexp.MustCompile(re).MatchString(info) {
			t.Errorf("rpm -qip: no match for %s in:\n%s", re, info)
		}
	}

	list := strings.Fields(cmdOut(t, "rpm", "-qlp", p.rpm))
	want := append(packaged(t),
		"usr/lib/systemd/system-generators/ehecoatl-generator",
		"usr/share/zsh/site-functions/_ehecoatl",
		"usr/share/licenses/ehecoatl/LICENSE",
		"usr/share/licenses/ehecoatl/copyright",
		"etc/ehecoatl", "etc/ehecoatl/secrets", "usr/share/ehecoatl", "usr/share/ehecoatl/grafana", "usr/share/doc/ehecoatl/examples")
	for _, f := range want {
		if !slices.Contains(list, "/"+f) {
			t.Errorf("rpm -qlp: /%s missing", f)
		}
	}
	for _, f := range list {
		if strings.HasPrefix(f, "/etc/ehecoatl/") && f != "/etc/ehecoatl/secrets" {
			t.Errorf("the .rpm owns %s; apply manages everything in /etc/ehecoatl but secrets/", f)
		}
	}
	// File flags: c = %config, n = noreplace, d = %doc, l = %license.
	flags := map[string]string{}
	for _, l := range strings.Split(cmdOut(t, "rpm", "-qp", "--qf", `[%{FILENAMES} %{FILEFLAGS:fflags} %{FILEMODES:perms}\n]`, p.rpm), "\n") {
		if f := strings.Fields(l); len(f) == 3 {
			flags[f[0]] = f[1] + " " + f[2]
		} else if len(f) == 2 {
			flags[f[0]] = " " + f[1]
		}
	}
	for f, want := range map[string]string{
		"/etc/default/ehecoatl-router":               "cn -rw-r--r--",
		"/etc/ehecoatl/secrets":                      " drwx------",
		"/usr/share/man/man1/ehecoatl.1.gz":          "d -rw-r--r--",
		"/usr/share/licenses/ehecoatl/LICENSE":       "l -rw-r--r--",
		"/usr/share/doc/ehecoatl/examples/README.md": "d -rw-r--r--",
		"/usr/bin/ehecoatl-router":                   " -rwxr-xr-x",
		"/usr/lib/ehecoatl/ehecoatl-exec":            " -rwxr-xr-x",
	} {
		if got := flags[f]; got != want {
			t.Errorf("rpm flags and mode of %s: %q, want %q", f, got, want)
		}
	}

	scripts := cmdOut(t, "rpm", "-qp", "--scripts", p.rpm)
	for _, s := range []string{
		"postinstall scriptlet (using /bin/sh):",
		"preuninstall scriptlet (using /bin/sh):",
		"postuninstall scriptlet (using /bin/sh):",
		"systemd-sysusers ehecoatl.conf",
		`if [ "$1" -eq 1 ]; then`,
		"systemctl --no-reload enable ehecoatl-router.socket",
		"systemctl start ehecoatl-router.socket",
		`if [ "$1" -eq 0 ]; then`,
		"systemctl --no-reload disable --now ehecoatl-router.socket ehecoatl-router.service",
		`if [ "$1" -ge 1 ]; then`,
		"systemctl try-restart ehecoatl-router.service",
	} {
		if !strings.Contains(scripts, s) {
			t.Errorf("rpm -qp --scripts lacks %q", s)
		}
	}
	// Only guarded calls reach a running systemd: every systemctl line
	// that is not --root=/ (files only) follows a [ -d /run/systemd/system ].
	checkGuards(t, "rpm scriptlets", scripts)

	if req := cmdOut(t, "rpm", "-qp", "--requires", p.rpm); !strings.Contains(req, "systemd >= 252") {
		t.Errorf("rpm -qp --requires lacks systemd >= 252:\n%s", req)
	}
	if rec := cmdOut(t, "rpm", "-qp", "--recommends", p.rpm); !strings.Contains(rec, "polkit") {
		t.Errorf("rpm -qp --recommends lacks polkit:\n%s", rec)
	}
	if cl := cmdOut(t, "rpm", "-qp", "--changelog", p.rpm); !strings.Contains(cl, "- "+p.version+"-1\n") || !strings.Contains(cl, "First packages") {
		t.Errorf("rpm -qp --changelog: no entry for %s-1:\n%s", p.version, cl)
	}
}

// checkGuards fails for a line that calls systemctl or deb-systemd-invoke
// outside an `if [ -d /run/systemd/system ]` branch (calls with --root=/
// work on files only and need no guard).
func checkGuards(t *testing.T, what, script string) {
	t.Helper()
	var stack []bool // per open if: is this branch guarded
	for _, l := range strings.Split(script, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "if "):
			stack = append(stack, strings.Contains(l, "[ -d /run/systemd/system ]"))
			continue
		case l == "else" && len(stack) > 0:
			stack[len(stack)-1] = false
			continue
		case l == "fi" && len(stack) > 0:
			stack = stack[:len(stack)-1]
			continue
		}
		if strings.HasPrefix(l, "#") || strings.Contains(l, "--root=/") ||
			!(strings.Contains(l, "systemctl ") || strings.Contains(l, "deb-systemd-invoke ")) {
			continue
		}
		if !slices.Contains(stack, true) {
			t.Errorf("%s: not guarded by [ -d /run/systemd/system ]: %s", what, l)
		}
	}
}

func testLintian(t *testing.T, p pkgs) {
	need(t, "lintian")
	// -I -E --pedantic: every tag lintian has; errors fail the test, and so
	// does an override that no longer matches anything.
	out, err := exec.Command("lintian", "--pedantic", "-I", "-E", "--fail-on", "error", p.deb).CombinedOutput()
	t.Logf("lintian --pedantic -I -E (overrides in packaging/lintian-overrides):\n%s", out)
	if err != nil {
		t.Errorf("lintian: %v", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "E: ") || strings.Contains(l, "unused-override") || strings.Contains(l, "mismatched-override") {
			t.Errorf("lintian: %s", l)
		}
	}
}

// testPayload checks the cpio payload of the .rpm: every member is named
// ./PATH, as rpmbuild writes it (nfpm before v2.48.0 wrote /PATH, which
// `rpm2cpio | cpio -id`, as rpmlint runs it, writes into the host's /), and
// the members are the files of rpm -qlp. It lists only (cpio -t). It returns
// whether the payload is safe to unpack.
func testPayload(t *testing.T, p pkgs) bool {
	need(t, "rpm2cpio")
	need(t, "cpio")
	members, err := payload(p.rpm)
	if err != nil {
		// Still look at what it listed: nfpm's older payloads also made
		// rpm2cpio exit 1 (nfpm issue 341).
		t.Errorf("%v", err)
	}
	for _, m := range members {
		rel, ok := strings.CutPrefix(m, "./")
		if !ok || rel == "" || path.Clean(rel) != rel || rel == ".." || strings.HasPrefix(rel, "../") {
			t.Errorf("payload member %q: want ./PATH (a relative name, as rpmbuild writes; cpio -i would write %q outside its directory)", m, m)
		}
	}
	var fromPayload []string
	for _, m := range members {
		fromPayload = append(fromPayload, strings.TrimPrefix(m, "."))
	}
	list := strings.Fields(cmdOut(t, "rpm", "-qlp", p.rpm))
	slices.Sort(fromPayload)
	slices.Sort(list)
	if !slices.Equal(fromPayload, list) {
		t.Errorf("payload members differ from rpm -qlp:\npayload: %v\nrpm -qlp: %v", fromPayload, list)
	}
	if t.Failed() {
		return false
	}
	t.Logf("rpm2cpio | cpio -t: %d members, all ./PATH (%s, ...)", len(members), strings.Join(members[:min(3, len(members))], ", "))
	return true
}

// payload lists the member names of an rpm's payload: rpm2cpio | cpio -t
// (list only), and an error if either command failed.
func payload(rpm string) ([]string, error) {
	r2c := exec.Command("rpm2cpio", rpm)
	ls := exec.Command("cpio", "-t", "--quiet")
	pipe, err := r2c.StdoutPipe()
	if err != nil {
		return nil, err
	}
	ls.Stdin = pipe
	var r2cErr, lsErr bytes.Buffer
	r2c.Stderr, ls.Stderr = &r2cErr, &lsErr
	if err := r2c.Start(); err != nil {
		return nil, err
	}
	out, errLs := ls.Output()
	pipe.Close() // should cpio stop early, rpm2cpio must not block on a write
	errR2c := r2c.Wait()
	if errR2c != nil || errLs != nil {
		err = fmt.Errorf("rpm2cpio %s | cpio -t: %v, %v\n%s%s", rpm, errR2c, errLs, r2cErr.String(), lsErr.String())
	}
	return strings.Fields(string(out)), err
}

// testRpmlint runs rpmlint as is: testPayload has checked that its
// `rpm2cpio | cpio -id` stays in rpmlint's directory.
func testRpmlint(t *testing.T, p pkgs) {
	need(t, "rpmlint")
	out, err := exec.Command("rpmlint", "-c", filepath.Join(repo, "packaging/rpmlint.toml"), p.rpm).CombinedOutput()
	t.Logf("rpmlint -c packaging/rpmlint.toml:\n%s", out)
	if !regexp.MustCompile(`(?m)\b0 errors, \d+ warnings`).Match(out) {
		t.Errorf("rpmlint reports errors (%v)", err)
	}
	if _, err := os.Stat("/usr/bin/ehecoatl"); err == nil {
		t.Errorf("/usr/bin/ehecoatl exists on the host: was the rpm unpacked into / ?")
	}
}

// testRebuild builds the same sources twice as an "upgrade" version from a
// snapshot of the working tree (immune to edits made meanwhile), checks that
// both builds are byte-identical, and returns the packages for the upgrade
// tests.
func testRebuild(t *testing.T, p pkgs, out string) pkgs {
	need(t, "tar")
	src := t.TempDir()
	tarCmd := fmt.Sprintf("tar -C %q --exclude=./.git --exclude=./dist --exclude=./bin --exclude='*.test' -cf - . | tar -C %q -xf -", repo, src)
	if out, err := exec.Command("sh", "-c", tarCmd).CombinedOutput(); err != nil {
		t.Fatalf("snapshot: %v\n%s", err, out)
	}
	version := p.version + "+test1"
	epoch := strings.TrimSpace(cmdOut(t, "git", "-C", repo, "log", "-1", "--format=%ct"))
	var builds []string
	for i := 1; i <= 2; i++ {
		dist := filepath.Join(out, fmt.Sprintf("build%d", i))
		start := time.Now()
		cmd := exec.Command(filepath.Join(src, "packaging/build.sh"))
		cmd.Env = append(os.Environ(), "PKG_VERSION="+version, "DIST="+dist, "SOURCE_DATE_EPOCH="+epoch)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %d of %s: %v\n%s", i, version, err, out)
		}
		t.Logf("build %d of %s: %s", i, version, time.Since(start).Round(time.Millisecond))
		builds = append(builds, dist)
	}
	for _, name := range []string{"ehecoatl_" + version + "_amd64.deb", "ehecoatl-" + version + ".x86_64.rpm"} {
		a, errA := os.ReadFile(filepath.Join(builds[0], name))
		b, errB := os.ReadFile(filepath.Join(builds[1], name))
		if errA != nil || errB != nil {
			t.Fatalf("%s: %v %v", name, errA, errB)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two builds of the same sources differ (not reproducible)", name)
		}
	}
	return pkgs{
		deb:     filepath.Join(builds[0], "ehecoatl_"+version+"_amd64.deb"),
		rpm:     filepath.Join(builds[0], "ehecoatl-"+version+".x86_64.rpm"),
		version: version,
	}
}

// ---- the .rpm installed -------------------------------------------------

// testRPMInstall installs the .rpm for real with Debian's rpm into a scratch
// root (rpm -i --root; the host's rpm database and files are not touched),
// checks the installed files against the package, and runs the scriptlets
// the way they run in an image build: rpm executes them chrooted into the
// root, where systemd does not run (no /run/systemd/system). First with no
// systemd programs at all, then with stand-ins for systemctl and
// systemd-sysusers that record their arguments, through install, an
// upgrade that keeps an edited %config(noreplace) file, and erase.
//
// --nodeps: the scratch root's rpm database is empty, so none of the .rpm's
// Requires is provided there (Debian's own rpm database, ~/.rpmdb, has no
// packages either: Debian's are dpkg's). The first step checks that rpm
// misses exactly systemd >= 252 and nftables, the two Requires that only an
// RPM-based distribution provides; --nodeps skips only those.
func testRPMInstall(t *testing.T, p, upgrade pkgs) {
	need(t, "rpm")
	need(t, "ldd")
	need(t, "mknod")
	if os.Geteuid() != 0 {
		t.Skip("rpm --root runs the scriptlets chrooted into the root: needs root (make test-packages runs as root)")
	}
	hostDB := cmdOut(t, "rpm", "-qa")
	hostVarLibRPM := listTree(t, "/var/lib/rpm")
	t.Cleanup(func() {
		if got := cmdOut(t, "rpm", "-qa"); got != hostDB {
			t.Errorf("the host's rpm database changed: rpm -qa was %q, is %q", hostDB, got)
		}
		if got := listTree(t, "/var/lib/rpm"); got != hostVarLibRPM {
			t.Errorf("the host's /var/lib/rpm changed:\n%s\nnow:\n%s", hostVarLibRPM, got)
		}
		if _, err := os.Lstat("/usr/bin/ehecoatl"); err == nil {
			t.Errorf("/usr/bin/ehecoatl exists on the host: rpm installed outside the scratch root")
		}
	})

	root := t.TempDir()
	// What rpm needs in the root to run scriptlets: /bin/sh (Debian's dash
	// and the libraries ldd names) and /dev/null for their redirections, as
	// any installroot has. The database goes where RPM-based distributions
	// keep it, inside the root (Debian's rpm defaults to ~/.rpmdb).
	copyProgram(t, root, "/bin/sh")
	if err := os.MkdirAll(filepath.Join(root, "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmdOut(t, "mknod", "-m", "0666", filepath.Join(root, "dev/null"), "c", "1", "3")
	in := func(args ...string) []string {
		return append([]string{"rpm", "--root", root, "--dbpath", "/var/lib/rpm"}, args...)
	}
	// rpm's output, with the note Debian's rpm prints for -i, -U and -e
	// (--force-debian would also silence it) left out.
	rpmRun := func(args ...string) (string, error) {
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		var keep []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if l != "" && !strings.HasPrefix(l, "rpm: RPM should not be used directly") && !strings.HasPrefix(l, "rpm: However assuming you know") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n"), err
	}
	// The scriptlets failed if rpm says so (a failed %post or %preun is a
	// "warning: %post(...) scriptlet failed", and rpm still exits 0), or
	// if anything but the expected lines was printed.
	checkRun := func(t *testing.T, what string, out string, err error, allowed ...*regexp.Regexp) {
		t.Helper()
		t.Logf("%s:\n%s", what, out)
		if err != nil {
			t.Errorf("%s: %v\n%s", what, err, out)
		}
		for _, l := range strings.Split(out, "\n") {
			if l == "" || slices.ContainsFunc(allowed, func(re *regexp.Regexp) bool { return re.MatchString(l) }) {
				continue
			}
			t.Errorf("%s: unexpected output (a scriptlet failure?): %s", what, l)
		}
	}

	name := "ehecoatl-" + p.version + "-1.x86_64"
	want := strings.Fields(cmdOut(t, "rpm", "-qlp", p.rpm))

	t.Run("requires", func(t *testing.T) {
		out, err := rpmRun(in("-i", "--test", p.rpm)...)
		missing := regexp.MustCompile(`(?m)^\s+(.+) is needed by `+regexp.QuoteMeta(name)+`$`).FindAllStringSubmatch(out, -1)
		var got []string
		for _, m := range missing {
			got = append(got, m[1])
		}
		if err == nil || !slices.Equal(got, []string{"systemd >= 252", "nftables"}) {
			t.Errorf("rpm -i --test into an empty root: want it to miss exactly systemd >= 252 and nftables (what --nodeps skips), got %v (%v):\n%s", got, err, out)
		}
	})

	t.Run("install", func(t *testing.T) {
		out, err := rpmRun(in("-i", "--nodeps", p.rpm)...)
		// No systemd in the root: `systemd-sysusers ehecoatl.conf || :` is
		// the one call whose stderr %post does not silence.
		checkRun(t, "rpm -i --nodeps --root", out, err, regexp.MustCompile(`^/var/tmp/rpm-tmp\.\w+: \d+: systemd-sysusers: not found$`))
		if got := strings.TrimSpace(cmdOut(t, in("-qa")...)); got != name {
			t.Fatalf("rpm -qa --root: %q, want %s", got, name)
		}
		list := strings.Fields(cmdOut(t, in("-ql", "ehecoatl")...))
		if !slices.Equal(list, want) {
			t.Errorf("rpm -ql --root differs from rpm -qlp:\n%v\n%v", list, want)
		}
		// Sizes, digests, modes, owners, groups, mtimes and link targets
		// as in the header (--nodeps: the Requires are still missing).
		if out, err := rpmRun(in("-V", "--nodeps", "ehecoatl")...); err != nil || out != "" {
			t.Errorf("rpm -V --root: %v\n%s", err, out)
		}
		// And as the files are, by stat: every path the package lists, root's,
		// with the header's type and permissions, or link target (a
		// symbolic link's permissions mean nothing).
		modes := map[string]string{}
		for _, l := range strings.Split(cmdOut(t, "rpm", "-qp", "--qf", `[%{FILENAMES} %{FILEMODES:octal} %{FILELINKTOS}\n]`, p.rpm), "\n") {
			if f := strings.Fields(l); len(f) == 3 {
				modes[f[0]] = "link " + f[2]
			} else if len(f) == 2 {
				modes[f[0]] = f[1]
			}
		}
		for _, f := range want {
			fi, err := os.Lstat(filepath.Join(root, f))
			if err != nil {
				t.Errorf("%s not installed: %v", f, err)
				continue
			}
			st := fi.Sys().(*syscall.Stat_t)
			got := fmt.Sprintf("%o", st.Mode)
			if fi.Mode()&os.ModeSymlink != 0 {
				target, _ := os.Readlink(filepath.Join(root, f))
				got = "link " + target
			}
			if got != modes[f] {
				t.Errorf("%s: %s, want %s (rpm -qp)", f, got, modes[f])
			}
			if st.Uid != 0 || st.Gid != 0 {
				t.Errorf("%s: owner %d:%d, want root:root", f, st.Uid, st.Gid)
			}
		}
		for f, mode := range map[string]string{
			"/etc/ehecoatl/secrets":                                  "40700",
			"/usr/bin/ehecoatl":                                      "100755",
			"/etc/default/ehecoatl-router":                           "100644",
			"/usr/share/doc/ehecoatl/examples/www/index.html":        "link ../../../../ehecoatl/www/index.html",
			"/usr/share/doc/ehecoatl/examples/grafana/ehecoatl.json": "link ../../../../ehecoatl/grafana/ehecoatl.json",
		} {
			if modes[f] != mode {
				t.Errorf("%s: mode %s in the package, want %s", f, modes[f], mode)
			}
		}
		// Nothing else was written into /etc and /usr (the scriptlets'
		// programs are missing, so they must have done nothing).
		for _, dir := range []string{"etc", "usr"} {
			filepath.WalkDir(filepath.Join(root, dir), func(f string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				if rel := strings.TrimPrefix(f, root); !slices.Contains(want, rel) {
					t.Errorf("%s is in the root but not in the package", rel)
				}
				return nil
			})
		}
		out, err = rpmRun(in("-e", "ehecoatl")...)
		checkRun(t, "rpm -e --root", out, err)
		if got := strings.TrimSpace(cmdOut(t, in("-qa")...)); got != "" {
			t.Errorf("rpm -qa --root after rpm -e: %q", got)
		}
		for _, f := range want {
			if _, err := os.Lstat(filepath.Join(root, f)); err == nil {
				t.Errorf("%s left after rpm -e", f)
			}
		}
	})

	// Stand-ins that record their calls, for what the scriptlets do in an
	// image build: only the file-level calls (systemctl --root=/ enable,
	// systemd-sysusers), never daemon-reload, start or stop.
	calls := filepath.Join(root, "calls")
	for _, prog := range []string{"systemctl", "systemd-sysusers", "systemd-tmpfiles"} {
		stub := "#!/bin/sh\necho \"${0##*/} $*\" >>/calls\n"
		if err := os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "usr/bin", prog), []byte(stub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	checkCalls := func(t *testing.T, what string, want ...string) {
		t.Helper()
		b, _ := os.ReadFile(calls)
		os.Remove(calls)
		if got := strings.Split(strings.TrimSpace(string(b)), "\n"); !slices.Equal(got, want) && !(len(want) == 0 && len(b) == 0) {
			t.Errorf("%s: the scriptlets called %q, want %q", what, got, want)
		}
	}
	conf := filepath.Join(root, "etc/default/ehecoatl-router")

	t.Run("scriptlets", func(t *testing.T) {
		out, err := rpmRun(in("-i", "--nodeps", p.rpm)...)
		checkRun(t, "rpm -i --nodeps --root (with stand-ins)", out, err)
		checkCalls(t, "%post 1 (install)", "systemd-sysusers ehecoatl.conf", "systemctl --root=/ enable ehecoatl-router.socket")

		f, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(f, "# edited by packages_test")
		f.Close()
		out, err = rpmRun(in("-U", "--nodeps", upgrade.rpm)...)
		checkRun(t, "rpm -U --nodeps --root", out, err)
		// New %post 2; the old package's %preun 1 and %postun 1 touch
		// systemd only while it runs.
		checkCalls(t, "%post 2, %preun 1, %postun 1 (upgrade)", "systemd-sysusers ehecoatl.conf")
		if got := strings.TrimSpace(cmdOut(t, in("-qa")...)); got != "ehecoatl-"+upgrade.version+"-1.x86_64" {
			t.Errorf("rpm -qa --root after rpm -U: %q", got)
		}
		if b, _ := os.ReadFile(conf); !strings.Contains(string(b), "# edited by packages_test") {
			t.Errorf("rpm -U replaced the edited %%config(noreplace) file:\n%s", b)
		}
		// The packaged file did not change between the versions: no .rpmnew.
		if _, err := os.Lstat(conf + ".rpmnew"); err == nil {
			t.Errorf("rpm -U wrote %s.rpmnew", conf)
		}

		out, err = rpmRun(in("-e", "ehecoatl")...)
		checkRun(t, "rpm -e --root (with stand-ins)", out, err,
			regexp.MustCompile(`^warning: /etc/default/ehecoatl-router saved as /etc/default/ehecoatl-router\.rpmsave$`))
		checkCalls(t, "%preun 0, %postun 0 (erase)", "systemctl --root=/ disable ehecoatl-router.socket ehecoatl-router.service")
		if b, err := os.ReadFile(conf + ".rpmsave"); err != nil || !strings.Contains(string(b), "# edited by packages_test") {
			t.Errorf("rpm -e did not keep the edited configuration as .rpmsave: %v", err)
		}
		for _, f := range []string{"/usr/bin/ehecoatl", "/etc/ehecoatl/secrets", "/etc/ehecoatl"} {
			if _, err := os.Lstat(filepath.Join(root, f)); err == nil {
				t.Errorf("%s left after rpm -e", f)
			}
		}
	})
}

// copyProgram copies prog and the shared libraries ldd lists for it into
// root, at the same paths.
func copyProgram(t *testing.T, root, prog string) {
	t.Helper()
	files := []string{prog}
	for _, f := range strings.Fields(cmdOut(t, "ldd", prog)) {
		if strings.HasPrefix(f, "/") {
			files = append(files, f)
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(f) // follows links: /bin/sh -> dash
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// listTree lists the names, sizes and modification times under dir ("" if
// it does not exist).
func listTree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			fmt.Fprintf(&b, "%s %d %s\n", p, fi.Size(), fi.ModTime().Format(time.RFC3339Nano))
		}
		return nil
	})
	return b.String()
}

// ---- in systemd ----------------------------------------------------------

func testInSystemd(t *testing.T, p pkgs, upgrade string) {
	// The guest shares the host's network: the packaged router takes :80.
	for _, port := range []string{":80", ":443"} {
		if l, err := net.Listen("tcp", port); err != nil {
			t.Skipf("port %s is taken on this host (%v): the packaged router listens there", port, err)
		} else {
			l.Close()
		}
	}
	m := harness.BootT(t, harness.Options{Files: map[string]string{
		"/root/ehecoatl.deb":         p.deb,
		"/root/ehecoatl-upgrade.deb": upgrade,
	}})
	h := &host{t: t, m: m}
	upgradeVersion := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(upgrade), "ehecoatl_"), "_amd64.deb")

	steps := []struct {
		name string
		fn   func(h *host)
	}{
		{"clean guest", func(h *host) {
			if _, _, code := h.try("dpkg-query", "-W", "ehecoatl"); code == 0 {
				h.fatalf("ehecoatl is installed in the guest before the test (is it installed on the host?)")
			}
			for _, f := range []string{"/usr/bin/ehecoatl", "/usr/bin/ehecoatl-router", "/usr/lib/systemd/system-generators/ehecoatl-generator",
				"/usr/lib/ehecoatl/ehecoatl-exec", "/usr/lib/systemd/system/ehecoatl-router.socket", "/usr/share/man/man1/ehecoatl.1.gz", "/etc/ehecoatl", "/var/lib/ehecoatl"} {
				if _, _, code := h.try("test", "-e", f); code == 0 {
					h.fatalf("%s exists before the package is installed (left on the host?)", f)
				}
			}
			// The guest is a copy of a Docker image's root, whose
			// policy-rc.d forbids maintainer scripts to start services.
			// A real host has none.
			h.sh("rm -f /usr/sbin/policy-rc.d")
		}},
		{"install", func(h *host) {
			start := time.Now()
			h.run("env", "DEBIAN_FRONTEND=noninteractive", "dpkg", "-i", "/root/ehecoatl.deb")
			h.t.Logf("dpkg -i: %s", time.Since(start).Round(time.Millisecond))
			if got := h.run("dpkg-query", "-W", "-f", "${Status} ${Version}", "ehecoatl"); got != "install ok installed "+p.version {
				h.fatalf("dpkg-query: %q", got)
			}
			h.run("getent", "passwd", "ehecoatl-router")
			if got := strings.TrimSpace(h.run("systemctl", "is-enabled", "ehecoatl-router.socket")); got != "enabled" {
				h.fatalf("ehecoatl-router.socket is %s, want enabled", got)
			}
			if got := h.prop("ehecoatl-router.socket", "ActiveState"); got != "active" {
				h.fatalf("ehecoatl-router.socket is %s after install, want active", got)
			}
			if got := strings.TrimSpace(h.sh("stat -c '%a %U %G' /etc/ehecoatl/secrets /run/ehecoatl /var/lib/ehecoatl")); got != "700 root root\n750 root ehecoatl-router\n755 root root" {
				h.fatalf("modes of secrets, /run/ehecoatl, /var/lib/ehecoatl: %q", got)
			}
			if got := h.run("ehecoatl", "version"); !strings.Contains(got, p.version) {
				h.fatalf("ehecoatl version: %q, want %s", got, p.version)
			}
			// The dashboard, and the examples' link to it.
			dash, _ := os.ReadFile(filepath.Join(repo, "examples/grafana/ehecoatl.json"))
			if got := h.run("cat", "/usr/share/doc/ehecoatl/examples/grafana/ehecoatl.json"); got != string(dash) || len(dash) == 0 {
				h.t.Errorf("the installed dashboard differs from examples/grafana/ehecoatl.json (%d bytes, want %d)", len(got), len(dash))
			}
			// No tenants yet: the router answers, with 404 for everyone.
			if r := h.curl("nobody.example.test", "/"); r.status != 404 {
				h.fatalf("before apply: %s", r)
			}
		}},
		{"doctor", func(h *host) {
			// The package brings everything apply checks first
			// (docs/OPERATIONS.md "Preflight"); a host without the
			// router's group is refused before anything changes.
			out, errOut, code := h.try("ehecoatl", "doctor", "/usr/share/doc/ehecoatl/examples")
			if code != 0 || strings.Contains(out, "fail ") {
				h.t.Errorf("ehecoatl doctor after install: exit %d\n%s%s", code, out, errOut)
			}
			for _, ok := range []string{"ok    group", "ok    generator", "ok    binary", "ok    sandbox root", "ok    router socket"} {
				if !strings.Contains(out, ok) {
					h.t.Errorf("ehecoatl doctor does not say %q:\n%s", ok, out)
				}
			}
			h.sh("cp /etc/group /root/group && sed -i '/^ehecoatl-router:/d' /etc/group")
			_, errOut, code = h.try("ehecoatl", "apply", "/usr/share/doc/ehecoatl/examples")
			h.sh("cp /root/group /etc/group")
			if code == 0 || !strings.Contains(errOut, "no group ehecoatl-router") || !strings.Contains(errOut, "nothing was changed") {
				h.t.Errorf("apply without the router's group: exit %d\n%s", code, errOut)
			}
			if _, _, code := h.try("test", "-e", "/etc/ehecoatl/tenants"); code == 0 {
				h.t.Errorf("the refused apply installed manifests")
			}
		}},
		{"man pages", func(h *host) {
			for _, c := range []struct{ page, want string }{
				{"ehecoatl", "apply [DIR]"},
				{"ehecoatl.yaml", "APP FIELDS"},
				{"ehecoatl-router", "SIGHUP"},
			} {
				out, errOut, code := h.try("env", "MANWIDTH=80", "LC_ALL=C.UTF-8", "man", "--warnings", c.page)
				if code != 0 || !strings.Contains(out, c.want) || strings.TrimSpace(errOut) != "" {
					h.t.Errorf("man %s: exit %d, %q not found or warnings:\n%s\n%s", c.page, code, c.want, errOut, head(out, 20))
				}
			}
			// The man-db trigger indexed the NAME sections.
			if out := h.run("whatis", "ehecoatl", "ehecoatl-router", "ehecoatl.yaml"); !strings.Contains(out, "ehecoatl-router (8)") {
				h.t.Errorf("whatis: %s", out)
			}
		}},
		{"bash completion", func(h *host) {
			out := h.run("bash", "-c", `source /usr/share/bash-completion/completions/ehecoatl
COMP_WORDS=(ehecoatl ap); COMP_CWORD=1; COMP_LINE="ehecoatl ap"; COMP_POINT=${#COMP_LINE}
_ehecoatl_complete; printf '%s\n' "${COMPREPLY[@]}"`)
			if strings.TrimSpace(out) != "apply" {
				h.t.Errorf("ehecoatl ap<TAB>: %q, want apply", out)
			}
			out = h.run("bash", "-c", `source /usr/share/bash-completion/completions/ehecoatl; complete -p ehecoatl`)
			if !strings.Contains(out, "-F _ehecoatl_complete ehecoatl") {
				h.t.Errorf("complete -p ehecoatl: %q", out)
			}
		}},
		{"apply examples", func(h *host) {
			start := time.Now()
			h.run("ehecoatl", "apply", "/usr/share/doc/ehecoatl/examples")
			h.t.Logf("ehecoatl apply: %s", time.Since(start).Round(time.Millisecond))
			index, _ := os.ReadFile(filepath.Join(repo, "examples/www/index.html"))
			for _, c := range []struct {
				host, path string
				want       string // in the body
				header     string // in the head
			}{
				{"acme.example.test", "/", `Hello, 100% "quoted" $world from acme/web: visit #1.`, ""},
				{"www.acme.example.test", "/", "visit #2.", ""},
				{"globex.example.test", "/", "<title>Ehecoatl example site</title>", ""},
				{"initech.example.test", "/", "<h1>It works</h1>", "X-Site: Initech"},
				{"umbrella.example.test", "/", "<h1>It works</h1>", "X-Site: Umbrella Corporation"},
				{"shop.umbrella.example.test", "/", "<h1>It works</h1>", "X-Site: Umbrella Corporation"},
				{"umbrella.example.test", "/api/status", `"tenant": "umbrella"`, ""},
			} {
				r := h.curl(c.host, c.path)
				if r.status != 200 || !strings.Contains(r.body, c.want) || !strings.Contains(r.head, c.header) {
					h.t.Errorf("curl -H 'Host: %s' http://127.0.0.1%s: want 200 with %q and %q, got %s", c.host, c.path, c.want, c.header, r)
				}
			}
			if !strings.Contains(string(index), "<h1>It works</h1>") {
				h.t.Errorf("examples/www/index.html changed: update the expected bodies")
			}
			if r := h.curl("unknown.example.test", "/"); r.status != 404 {
				h.t.Errorf("unknown host: %s", r)
			}
			// A secret, to see what purge keeps.
			h.sh("install -d -m 0700 /etc/ehecoatl/secrets/acme && echo s3cret > /etc/ehecoatl/secrets/acme/api_key")
		}},
		{"https", func(h *host) {
			// The operator's certificate for a new tenant, through the
			// packaged router on :443 (docs/OPERATIONS.md "HTTPS").
			c := newTestCA(h.t, "secure.example.com")
			h.sh(fmt.Sprintf(`set -e
mkdir -p /root/m && cp -r /usr/share/doc/ehecoatl/examples/tenants /usr/share/doc/ehecoatl/examples/kits /root/m/
cat > /root/m/tenants/secure.yaml <<'EOF'
tenant: secure
apps:
  site:
    kit: static
    domains: [secure.example.com]
    tls: {cert: site.pem, key: site.key}
    hsts: true
    env: {SITE_NAME: Secure}
EOF
install -d -m 0750 -g ehecoatl-router /etc/ehecoatl/certs/secure
cat > /etc/ehecoatl/certs/secure/site.pem <<'EOF'
%sEOF
cat > /etc/ehecoatl/certs/secure/site.key <<'EOF'
%sEOF
chgrp ehecoatl-router /etc/ehecoatl/certs/secure/site.* && chmod 0640 /etc/ehecoatl/certs/secure/site.*
cat > /root/ca.pem <<'EOF'
%sEOF`, c.certPEM, c.keyPEM, c.caPEM))
			h.run("ehecoatl", "apply", "/root/m")
			for _, proto := range []struct{ flag, version string }{{"--http1.1", "1.1"}, {"--http2", "2"}} {
				out, errOut, code := h.try("curl", "-sS", proto.flag, "--max-time", "60", "-D", "-", "-w", "\nversion=%{http_version}", "--cacert", "/root/ca.pem",
					"--resolve", "secure.example.com:443:127.0.0.1", "https://secure.example.com/")
				low := strings.ToLower(out)
				if code != 0 || !strings.Contains(low, "x-site: secure") || !strings.Contains(low, "strict-transport-security: max-age=31536000") ||
					!strings.Contains(out, "<h1>It works</h1>") || !strings.HasSuffix(out, "version="+proto.version) {
					h.t.Errorf("HTTPS (curl %s) through the packaged router: exit %d\n%s%s", proto.flag, code, out, errOut)
				}
			}
			if r := h.curl("secure.example.com", "/x?y=1"); r.status != 301 || !strings.Contains(r.head, "Location: https://secure.example.com/x?y=1") {
				h.t.Errorf("plain HTTP to secure.example.com: %s", r)
			}
			if _, _, code := h.try("curl", "-sS", "--max-time", "20", "--cacert", "/root/ca.pem", "--resolve", "other.example.com:443:127.0.0.1", "https://other.example.com/"); code == 0 {
				h.t.Errorf("HTTPS for a name no manifest serves succeeded")
			}
		}},
		{"upgrade", func(h *host) {
			// An administrator's setting in the configuration file.
			h.sh(`sed -i 's/^EHECOATL_ROUTER_OPTS=.*/EHECOATL_ROUTER_OPTS="-start-timeout=31s"/' /etc/default/ehecoatl-router &&
				echo '# edited by packages_test' >> /etc/default/ehecoatl-router`)
			h.run("systemctl", "restart", "ehecoatl-router.service")
			if r := h.curl("acme.example.test", "/"); r.status != 200 {
				h.fatalf("after the router's restart with -start-timeout=31s: %s", r)
			}
			pid := h.prop("ehecoatl-router.service", "MainPID")
			sock := h.prop("ehecoatl-router.socket", "InvocationID")

			// Requests from the host all through the upgrade, one
			// connection each.
			load := startLoad(t, "initech.example.test")
			time.Sleep(500 * time.Millisecond)
			start := time.Now()
			out := h.run("env", "DEBIAN_FRONTEND=noninteractive", "dpkg", "-i", "/root/ehecoatl-upgrade.deb")
			h.t.Logf("dpkg -i (upgrade): %s\n%s", time.Since(start).Round(time.Millisecond), out)
			time.Sleep(time.Second)
			ok, failed := load.stop()
			h.t.Logf("requests during the upgrade: %d answered, %d failed", ok, len(failed))
			if len(failed) > 0 || ok < 10 {
				h.t.Errorf("the upgrade interrupted service: %d ok, failures: %v", ok, failed)
			}

			if got := h.run("dpkg-query", "-W", "-f", "${Version}", "ehecoatl"); got != upgradeVersion {
				h.t.Errorf("version after upgrade: %q, want %q", got, upgradeVersion)
			}
			conf := h.run("cat", "/etc/default/ehecoatl-router")
			if !strings.Contains(conf, "# edited by packages_test") || !strings.Contains(conf, `EHECOATL_ROUTER_OPTS="-start-timeout=31s"`) {
				h.t.Errorf("the edited configuration file was not kept:\n%s", conf)
			}
			if _, _, code := h.try("test", "-e", "/etc/default/ehecoatl-router.dpkg-dist"); code == 0 {
				h.t.Errorf("dpkg left /etc/default/ehecoatl-router.dpkg-dist")
			}
			newPID := h.prop("ehecoatl-router.service", "MainPID")
			if newPID == pid || newPID == "0" {
				h.t.Errorf("router MainPID %s -> %s: the upgrade did not restart the router", pid, newPID)
			}
			if got := h.prop("ehecoatl-router.socket", "InvocationID"); got != sock {
				h.t.Errorf("ehecoatl-router.socket was restarted by the upgrade (invocation %s -> %s)", sock, got)
			}
			if cmdline := h.sh("tr '\\0' ' ' < /proc/" + newPID + "/cmdline"); !strings.Contains(cmdline, "-start-timeout=31s") {
				h.t.Errorf("the new router does not have the configured options: %q", cmdline)
			}
			if got := h.run("ehecoatl", "version"); !strings.Contains(got, upgradeVersion) {
				h.t.Errorf("ehecoatl version after upgrade: %q", got)
			}
			// Tenants kept running and kept their state.
			if r := h.curl("acme.example.test", "/"); r.status != 200 || !strings.Contains(r.body, "visit #") || strings.Contains(r.body, "visit #1.") {
				h.t.Errorf("acme after the upgrade: %s", r)
			}
		}},
		{"remove", func(h *host) {
			h.run("env", "DEBIAN_FRONTEND=noninteractive", "dpkg", "-r", "ehecoatl")
			if got := h.run("dpkg-query", "-W", "-f", "${Status}", "ehecoatl"); got != "deinstall ok config-files" {
				h.t.Errorf("dpkg-query after dpkg -r: %q", got)
			}
			for _, u := range []string{"ehecoatl-router.socket", "ehecoatl-router.service", "ehecoatl-acme-web.socket", "ehecoatl-acme-web.service"} {
				if st := h.prop(u, "ActiveState"); st != "inactive" {
					h.t.Errorf("%s is %s after dpkg -r", u, st)
				}
			}
			if c, err := net.DialTimeout("tcp", "127.0.0.1:80", time.Second); err == nil {
				c.Close()
				h.t.Errorf("something still listens on :80 after dpkg -r")
			}
			for _, f := range []string{"/usr/bin/ehecoatl", "/usr/lib/systemd/system-generators/ehecoatl-generator", "/usr/lib/systemd/system/ehecoatl-router.socket"} {
				if _, _, code := h.try("test", "-e", f); code == 0 {
					h.t.Errorf("%s left after dpkg -r", f)
				}
			}
			// Kept: state, manifests, secrets, configuration, the record.
			for _, f := range []string{"/var/lib/private/ehecoatl-acme-web/hits", "/etc/ehecoatl/tenants/acme.yaml",
				"/etc/ehecoatl/secrets/acme/api_key", "/etc/default/ehecoatl-router", "/var/lib/ehecoatl"} {
				if _, _, code := h.try("test", "-e", f); code != 0 {
					h.t.Errorf("%s was deleted by dpkg -r", f)
				}
			}
		}},
		{"reinstall after remove", func(h *host) {
			// The tenants serve again without an apply: the manifests,
			// the record and the state stayed.
			h.run("env", "DEBIAN_FRONTEND=noninteractive", "dpkg", "-i", "/root/ehecoatl-upgrade.deb")
			for _, c := range []struct{ host, want string }{
				{"acme.example.test", "from acme/web: visit #"},
				{"globex.example.test", "<title>Ehecoatl example site</title>"},
			} {
				out, errOut, code := h.try("curl", "-sS", "--max-time", "20", "-H", "Host: "+c.host, "http://127.0.0.1/")
				if code != 0 || !strings.Contains(out, c.want) {
					h.t.Errorf("%s after dpkg -r and dpkg -i, without apply: exit %d, %q %s", c.host, code, head(out, 3), errOut)
				}
			}
			h.run("env", "DEBIAN_FRONTEND=noninteractive", "dpkg", "-r", "ehecoatl")
		}},
		{"purge", func(h *host) {
			out, errOut, code := h.try("env", "DEBIAN_FRONTEND=noninteractive", "dpkg", "-P", "ehecoatl")
			if code != 0 {
				h.fatalf("dpkg -P: exit %d\n%s%s", code, out, errOut)
			}
			// dpkg says that it kept /etc/ehecoatl/secrets (not empty:
			// the tenants' secrets stay), and must say nothing else.
			for _, l := range strings.Split(strings.TrimSpace(out+errOut), "\n") {
				if strings.Contains(l, "warning") && !strings.Contains(l, "directory '/etc/ehecoatl/secrets' not empty") {
					h.t.Errorf("dpkg -P warns: %s", l)
				}
			}
			if _, _, code := h.try("dpkg-query", "-W", "-f", "${Status}", "ehecoatl"); code == 0 {
				if got := h.run("dpkg-query", "-W", "-f", "${Status}", "ehecoatl"); got != "unknown ok not-installed" {
					h.t.Errorf("dpkg-query after dpkg -P: %q", got)
				}
			}
			for _, f := range []string{"/var/lib/ehecoatl", "/etc/ehecoatl/tenants", "/etc/ehecoatl/kits", "/etc/ehecoatl/current",
				"/etc/ehecoatl/.generations", "/etc/default/ehecoatl-router",
				"/etc/systemd/system/sockets.target.wants/ehecoatl-router.socket",
				"/var/lib/systemd/deb-systemd-helper-enabled/ehecoatl-router.socket.dsh-also"} {
				if _, _, code := h.try("test", "-e", f); code == 0 {
					h.t.Errorf("%s left after dpkg -P", f)
				}
			}
			for _, f := range []string{"/var/lib/private/ehecoatl-acme-web/hits", "/etc/ehecoatl/secrets/acme/api_key"} {
				if _, _, code := h.try("test", "-e", f); code != 0 {
					h.t.Errorf("dpkg -P deleted %s", f)
				}
			}
		}},
		{"install without systemd", func(h *host) {
			// As in a chroot or an image build: /run/systemd/system is
			// missing, so no script may talk to systemd, and the socket is
			// enabled for the next boot but not started.
			h.run("unshare", "-m", "sh", "-c",
				"mount -t tmpfs tmpfs /run/systemd && DEBIAN_FRONTEND=noninteractive dpkg -i /root/ehecoatl.deb")
			if got := strings.TrimSpace(h.run("readlink", "/etc/systemd/system/sockets.target.wants/ehecoatl-router.socket")); got != "/lib/systemd/system/ehecoatl-router.socket" && got != "/usr/lib/systemd/system/ehecoatl-router.socket" {
				h.t.Errorf("socket not enabled: %q", got)
			}
			if st := h.prop("ehecoatl-router.socket", "ActiveState"); st != "inactive" {
				h.t.Errorf("ehecoatl-router.socket is %s: the install talked to systemd", st)
			}
			// What the next boot does.
			h.run("systemctl", "daemon-reload")
			h.run("systemd-tmpfiles", "--create", "ehecoatl.conf")
			h.run("systemctl", "start", "sockets.target")
			if r := h.curl("acme.example.test", "/"); r.status != 404 {
				h.t.Errorf("after the boot steps (no tenants installed): %s", r)
			}
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { s.fn(h.on(t)) }) {
			t.Fatalf("step %q failed; later steps depend on it", s.name)
		}
	}
}

// response is what curl saw.
type response struct {
	status     int
	head, body string
	err        string
}

func (r response) String() string {
	if r.err != "" {
		return "curl failed: " + r.err
	}
	return fmt.Sprintf("%d\n%s\n%s", r.status, strings.TrimSpace(r.head), head(r.body, 10))
}

// curl fetches http://127.0.0.1PATH with Host: host from inside the guest.
func (h *host) curl(host, path string) response {
	h.t.Helper()
	out, errOut, code := h.try("curl", "-sS", "--max-time", "60", "-D", "-", "-H", "Host: "+host, "http://127.0.0.1"+path)
	if code != 0 {
		return response{err: strings.TrimSpace(errOut)}
	}
	hd, body, _ := strings.Cut(out, "\r\n\r\n")
	var r response
	r.head, r.body = hd, body
	fmt.Sscanf(hd, "HTTP/1.1 %d", &r.status)
	return r
}

// load sends requests from the host, one connection each, until stopped.
type load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ok     atomic.Int64
	mu     sync.Mutex
	failed []string
}

func startLoad(t *testing.T, host string) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for ctx.Err() == nil {
			req, _ := http.NewRequest("GET", "http://127.0.0.1/", nil)
			req.Host = host
			resp, err := client.Do(req)
			switch {
			case err != nil:
				l.fail(err.Error())
			case resp.StatusCode != 200:
				l.fail(resp.Status)
			default:
				l.ok.Add(1)
			}
			if resp != nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return l
}

func (l *load) fail(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failed = append(l.failed, time.Now().Format("15:04:05.000")+" "+msg)
}

func (l *load) stop() (int64, []string) {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok.Load(), l.failed
}

// ---- helpers -------------------------------------------------------------

func need(t *testing.T, prog string) {
	t.Helper()
	if _, err := exec.LookPath(prog); err != nil {
		t.Skipf("%s is not installed (make test-packages installs it)", prog)
	}
}

func cmdOut(t *testing.T, argv ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, stderr.String())
	}
	return string(out)
}

func head(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, "\n")
}
