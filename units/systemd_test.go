package units

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests hand generated units to the real systemd 252: systemd-analyze
// verify for the syntax, and `systemd --test`, which loads the units with
// the real parser and dumps what it understood (argv of every command,
// environment, specifiers resolved), for the meaning.

const (
	testService  = "ehecoatl-units-test.service"
	testTemplate = "ehecoatl-units-test@.service"
	testInstance = "ehecoatl-units-test@7.service"
)

// instanceSpecifiers are the values systemd gives testInstance's specifiers.
var instanceSpecifiers = Specifiers{'i': "7", 'I': "7", 'n': testInstance, 'N': "ehecoatl-units-test@7", 'p': "ehecoatl-units-test"}

// systemdCase is a set of units written to dir, with the argvs and
// variables they carry.
type systemdCase struct {
	units []*Unit
	argvs [][]string
	keys  []string
}

// buildSystemdCase writes tricky argvs and variables into a oneshot service
// and specifiers into a template. Executables with awkward names are
// symlinks to /bin/echo under dir, so that verify finds them.
func buildSystemdCase(t *testing.T, dir string) systemdCase {
	t.Helper()
	var c systemdCase
	var argv0s = []string{"/bin/echo"}
	for _, d := range []string{"my app", "50%", "ünï", "semi;colon", "#hash", "a`b", "a=b", "@x"} {
		p := filepath.Join(dir, "bin", d, "run")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("/bin/echo", p); err != nil {
			t.Fatal(err)
		}
		argv0s = append(argv0s, p)
	}
	for _, w := range trickyWords {
		c.argvs = append(c.argvs, []string{"/bin/echo", w}, []string{"/bin/echo", w, w})
	}
	for i, a := range trickyArgvs {
		c.argvs = append(c.argvs, append([]string{argv0s[i%len(argv0s)]}, a[1:]...))
	}
	for _, a := range argv0s {
		c.argvs = append(c.argvs, []string{a, "x"})
	}

	u := New(testService)
	u.Section("Unit").Add("Description", `Tricky "units" test, 100% \ ok`)
	s := u.Section("Service")
	s.Add("Type", "oneshot")
	for _, a := range c.argvs {
		s.AddExec("ExecStart", a)
	}
	for i, v := range trickyEnv {
		c.keys = append(c.keys, fmt.Sprintf("V%d", i))
		s.AddEnv(c.keys[i], v)
	}

	tm := New(testTemplate)
	tm.Section("Unit").AddSpecifier("Description", "worker %i (%I) of %p: %n %N, 100%%")
	ts := tm.Section("Service")
	ts.Add("Type", "oneshot")
	ts.AddExecSpecifier("ExecStart", []string{"/bin/echo", "--sock=/run/ehecoatl/acme/web@%i.sock", "%I", "%n", "5%%", "a b"})
	ts.AddEnvSpecifier("EHECOATL_WORKER", "%i")
	ts.AddEnvSpecifier("EHECOATL_UNIT", "%n %%")
	ts.AddSpecifier("StateDirectory", "ehecoatl-acme-web-%i")
	c.units = []*Unit{u, tm}

	for _, x := range c.units {
		b, err := x.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, x.Name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// `systemd --test` needs the target it orders every service after.
	if err := os.WriteFile(filepath.Join(dir, "sysinit.target"), []byte("[Unit]\nDescription=stub\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

// worldReadableDir returns a fresh directory that an unprivileged systemd
// --test can read (t.TempDir is private to root).
func worldReadableDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ehecoatl-units-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestSystemdAnalyzeVerify(t *testing.T) {
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian package systemd): cannot verify generated units")
	}
	dir := worldReadableDir(t)
	c := buildSystemdCase(t, dir)
	for _, u := range c.units {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, bin, "verify", "--man=no", filepath.Join(dir, u.Name))
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		cancel()
		// verify exits 0 on unknown keys and bad escapes: it only warns, so
		// any output at all is a failure.
		if err != nil || stderr.Len() > 0 || stdout.Len() > 0 {
			b, _ := u.Bytes()
			t.Errorf("systemd-analyze verify %s: %v\nstderr:\n%s\nstdout:\n%s\nunit:\n%s", u.Name, err, &stderr, &stdout, b)
		}
	}
}

// systemdTest runs `systemd --test` for unit with dir as the only unit
// directory and returns the dump of that unit, failing on any warning about
// a file in dir.
func systemdTest(t *testing.T, dir, unit string) []string {
	t.Helper()
	var bin string
	for _, p := range []string{"/lib/systemd/systemd", "/usr/lib/systemd/systemd"} {
		if _, err := os.Stat(p); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("no systemd binary (/lib/systemd/systemd): cannot check how systemd reads the units")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--test", "--system", "--unit="+unit, "--log-target=console", "--log-level=info")
	cmd.Env = []string{"SYSTEMD_UNIT_PATH=" + dir, "HOME=/", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	if os.Geteuid() == 0 { // "Don't run test mode as root."
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("systemd --test: %v\n%s", err, out)
	}
	var dump []string
	in := false
	for _, l := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(l, "\t") && strings.Contains(l, dir+"/") { // "FILE:LINE: message"
			t.Errorf("systemd warns: %s", l)
		}
		if strings.HasPrefix(l, "\t-> Unit ") {
			in = l == "\t-> Unit "+unit+":"
			continue
		}
		if in {
			dump = append(dump, strings.TrimLeft(l, "\t"))
		}
	}
	if len(dump) == 0 {
		t.Fatalf("systemd --test printed no dump of %s:\n%s", unit, out)
	}
	return dump
}

// dumpValues returns the values of the dump lines "field: value".
func dumpValues(dump []string, field string) []string {
	var vals []string
	for _, l := range dump {
		if v, ok := strings.CutPrefix(l, field+": "); ok {
			vals = append(vals, v)
		}
	}
	return vals
}

// parseDumpArgv reads systemd's "Command Line:" quoting (shell_maybe_quote:
// words needing it in double quotes, with \ before " \ ` $).
func parseDumpArgv(s string) ([]string, error) {
	var argv []string
	for i := 0; i < len(s); {
		if s[i] == ' ' {
			i++
			continue
		}
		var w strings.Builder
		if s[i] != '"' {
			for ; i < len(s) && s[i] != ' '; i++ {
				w.WriteByte(s[i])
			}
			argv = append(argv, w.String())
			continue
		}
		for i++; ; i++ {
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated quote in %q", s)
			}
			if s[i] == '\\' && i+1 < len(s) {
				i++
				if !strings.ContainsRune("\"\\`$", rune(s[i])) {
					return nil, fmt.Errorf("unexpected escape \\%c in %q", s[i], s)
				}
			} else if s[i] == '"' {
				i++
				break
			}
			w.WriteByte(s[i])
		}
		argv = append(argv, w.String())
	}
	return argv, nil
}

// TestSystemdReadsWhatWeMeant loads the tricky units into the real systemd
// and checks that every argv word, variable and specifier comes out as
// intended — and as our decoders say.
func TestSystemdReadsWhatWeMeant(t *testing.T) {
	dir := worldReadableDir(t)
	c := buildSystemdCase(t, dir)

	dump := systemdTest(t, dir, testService)
	if got := dumpValues(dump, "Description"); !slices.Equal(got, []string{`Tricky "units" test, 100% \ ok`}) {
		t.Errorf("Description: %q", got)
	}
	lines := dumpValues(dump, "Command Line")
	if len(lines) != len(c.argvs) {
		t.Fatalf("systemd read %d commands, we wrote %d", len(lines), len(c.argvs))
	}
	for i, l := range lines {
		argv, err := parseDumpArgv(l)
		if err == nil {
			// The dump shows argv before $ expansion, which turns "$$"
			// into "$" when the command runs (systemd.service(5)).
			for j := range argv {
				if argv[j], err = unDollar(argv[j]); err != nil {
					break
				}
			}
		}
		if err != nil || !slices.Equal(argv, c.argvs[i]) {
			t.Errorf("argv %q: systemd read %q (%v)", c.argvs[i], l, err)
		}
	}
	env := dumpValues(dump, "Environment")
	if len(env) != len(c.keys) {
		t.Fatalf("systemd read %d variables, we wrote %d: %q", len(env), len(c.keys), env)
	}
	for i, e := range env {
		if want := c.keys[i] + "=" + trickyEnv[i]; e != want {
			t.Errorf("variable: systemd read %q, want %q", e, want)
		}
	}

	// The template, loaded as instance 7: systemd's specifier values must
	// be what Specifiers decoding gives.
	tm := c.units[1]
	dump = systemdTest(t, dir, testInstance)
	want, err := instanceSpecifiers.UnescapeValue(tm.Lookup("Unit", "Description")[0])
	if got := dumpValues(dump, "Description"); err != nil || !slices.Equal(got, []string{want}) {
		t.Errorf("template Description: systemd %q, decoded %q (%v)", got, want, err)
	}
	wantArgv, err := instanceSpecifiers.SplitExec(tm.Lookup("Service", "ExecStart")[0])
	if err != nil || !slices.Equal(wantArgv, []string{"/bin/echo", "--sock=/run/ehecoatl/acme/web@7.sock", "7", testInstance, "5%", "a b"}) {
		t.Errorf("decoded template argv %q, %v", wantArgv, err)
	}
	if got := dumpValues(dump, "Command Line"); len(got) != 1 {
		t.Errorf("template commands: %q", got)
	} else if argv, err := parseDumpArgv(got[0]); err != nil || !slices.Equal(argv, wantArgv) {
		t.Errorf("template argv: systemd %q (%v), decoded %q", got[0], err, wantArgv)
	}
	var wantEnv []string
	for _, enc := range tm.Lookup("Service", "Environment") {
		k, v, err := instanceSpecifiers.SplitEnv(enc)
		if err != nil {
			t.Fatal(err)
		}
		wantEnv = append(wantEnv, k+"="+v)
	}
	if got := dumpValues(dump, "Environment"); !slices.Equal(got, wantEnv) || wantEnv[0] != "EHECOATL_WORKER=7" {
		t.Errorf("template environment: systemd %q, decoded %q", got, wantEnv)
	}
	if got := dumpValues(dump, "StateDirectory"); !slices.Equal(got, []string{"ehecoatl-acme-web-7"}) {
		t.Errorf("template StateDirectory: %q", got)
	}
}
