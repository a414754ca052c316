package generator

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ehecoatl/ehecoatl/units"
)

// Assertions (Podman Quadlet's test/e2e/quadlet style): a case says what it
// is for in its own input. Every line of a *.yaml file directly in the
// case's tenants/ or kits/ (names starting with "." included: Load ignores
// them, so a case without tenants keeps its assertions in one) whose first
// non-blank characters are "##" is an assertion; ordinary comments use a
// single "#". The rest of the line is split into words as sh(1) splits
// them, without any expansion: blanks separate words, '...' keeps its text
// as it is, "..." keeps it but for \" \\ \$ and \`, and outside quotes a
// backslash keeps the next character. The first word is the verb:
//
//	## assert-key-is UNIT SECTION KEY VALUE...
//	    the values of KEY in [SECTION] of UNIT, all of them in order, are
//	    exactly VALUE... (no VALUE: KEY is absent). A value is compared as
//	    written after "KEY=" in the unit file (the encoded form: "%%",
//	    "$$", quotes), so one line with spaces is one quoted word:
//	    'AF_UNIX AF_INET'.
//	## assert-key-contains UNIT SECTION KEY TEXT
//	    one of the values of KEY contains TEXT (for keys that the shared
//	    profile also sets, such as BindReadOnlyPaths= and
//	    TemporaryFileSystem=, so that a change of the profile does not
//	    touch the case).
//	## assert-key-missing UNIT SECTION KEY
//	    UNIT has no KEY in [SECTION].
//	## assert-exec UNIT SECTION KEY WORD...
//	    KEY has exactly one value, and the argv systemd runs for it
//	    (units.SplitExec: quotes, "%%" and "$$" undone) is WORD...
//	## assert-unit-lacks UNIT TEXT
//	    no line of UNIT contains TEXT.
//	## assert-unit-missing UNIT
//	    no unit file is named UNIT.
//	## assert-units UNIT...
//	    the unit files of the output are exactly UNIT..., in the output's
//	    order (sorted by name).
//	## assert-link DIR/NAME -> TARGET
//	## assert-link-missing DIR/NAME -> TARGET
//	    the rest of the line is (is not) a line of the links, in the
//	    format of expected/links.txt.
//	## assert-env FILE KEY VALUE
//	    the env file FILE (a key of Output.Env, "env/acme/web.env"), read
//	    back with units.ParseEnvFile, sets KEY to VALUE (the value the app
//	    sees, not its encoded form).
//	## assert-env-missing FILE [KEY]
//	    FILE sets no KEY; without KEY, there is no env file FILE.
//	## assert-command UNIT FILE WORD...
//	    UNIT runs the argv WORD...: its ExecStart= is "PROGRAM $VAR"
//	    (units.SplitExecArgsVar) and the env file FILE sets VAR to the
//	    other words (units.SplitEnvArgs, as systemd splits "$VAR").
//
// UNIT is a file name of the output ("ehecoatl-acme-web.service"); units are
// read with units.Parse, so the assertions see what systemd parses. An
// unknown verb, a wrong number of words or a unit that does not exist
// fail the case, and so does a case with no assertion at all unless it is
// one of the full-snapshot cases (snapshotCases in golden_test.go).

// assertion is one "## verb args..." line.
type assertion struct {
	file string // the input file, "testdata/limits_all/tenants/acme.yaml"
	line int
	text string // the line after "##", trimmed
	verb string
	args []string
	err  error // the line cannot be split into words
}

func (a assertion) String() string { return fmt.Sprintf("%s:%d: %s", a.file, a.line, a.text) }

// readAssertions returns the assertions of the *.yaml files directly in
// dir/tenants and dir/kits, in file and line order.
func readAssertions(dir string) ([]assertion, error) {
	var as []assertion
	for _, sub := range []string{"tenants", "kits"} {
		files, err := filepath.Glob(filepath.Join(dir, sub, "*.yaml"))
		if err != nil {
			return nil, err
		}
		// Glob leaves out names starting with "."; they are inputs too.
		dots, err := filepath.Glob(filepath.Join(dir, sub, ".*.yaml"))
		if err != nil {
			return nil, err
		}
		files = append(files, dots...)
		slices.Sort(files)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			sc := bufio.NewScanner(bytes.NewReader(b))
			sc.Buffer(nil, 1<<20)
			for n := 1; sc.Scan(); n++ {
				l := strings.TrimSpace(sc.Text())
				if !strings.HasPrefix(l, "##") {
					continue
				}
				a := assertion{file: filepath.ToSlash(f), line: n, text: strings.TrimSpace(l[2:])}
				var words []string
				words, a.err = shellWords(a.text)
				if len(words) > 0 {
					a.verb, a.args = words[0], words[1:]
				}
				as = append(as, a)
			}
			if err := sc.Err(); err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
		}
	}
	return as, nil
}

// shellWords splits s as sh(1) splits words, with no expansion (see the
// rules above). Two quotes with nothing between them are an empty word.
func shellWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated '")
			}
			w.WriteString(s[i+1 : i+1+j])
			i += 1 + j
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				w.WriteByte(s[i])
			}
			if i == len(s) {
				return nil, errors.New(`unterminated "`)
			}
			inWord = true
		case c == '\\':
			if i+1 == len(s) {
				return nil, errors.New("trailing backslash")
			}
			i++
			w.WriteByte(s[i])
			inWord = true
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// rendering is what the assertions of one case look at.
type rendering struct {
	out   *Output
	units map[string]*units.Unit // by file name, parsed with units.Parse
	links []string               // the lines of links.txt
}

func newRendering(out *Output) (*rendering, error) {
	r := &rendering{out: out, units: map[string]*units.Unit{}}
	for _, f := range out.Files {
		u, err := units.Parse(f.Name, f.Data)
		if err != nil {
			return nil, err
		}
		r.units[f.Name] = u
	}
	r.links = strings.Split(strings.TrimSuffix(linksText(out.Links), "\n"), "\n")
	return r, nil
}

// verbs maps each verb to its number of arguments (min, max; max -1: any)
// and its check, which returns what it found when the assertion fails.
var verbs = map[string]struct {
	min, max int
	check    func(r *rendering, a assertion) error
}{
	"assert-key-is":       {3, -1, checkKeyIs},
	"assert-key-contains": {4, 4, checkKeyContains},
	"assert-key-missing":  {3, 3, checkKeyMissing},
	"assert-exec":         {4, -1, checkExec},
	"assert-unit-lacks":   {2, 2, checkUnitLacks},
	"assert-unit-missing": {1, 1, checkUnitMissing},
	"assert-units":        {1, -1, checkUnits},
	"assert-link":         {3, -1, checkLink},
	"assert-link-missing": {3, -1, checkLinkMissing},
	"assert-env":          {3, 3, checkEnv},
	"assert-env-missing":  {1, 2, checkEnvMissing},
	"assert-command":      {3, -1, checkCommand},
}

// run checks one assertion.
func (r *rendering) run(a assertion) error {
	if a.err != nil {
		return a.err
	}
	v, ok := verbs[a.verb]
	if !ok {
		known := make([]string, 0, len(verbs))
		for k := range verbs {
			known = append(known, k)
		}
		slices.Sort(known)
		return fmt.Errorf("unknown assertion %q (known: %s; a plain comment starts with one #)", a.verb, strings.Join(known, ", "))
	}
	if len(a.args) < v.min || v.max >= 0 && len(a.args) > v.max {
		want := fmt.Sprintf("%d to %d", v.min, v.max)
		switch {
		case v.max < 0:
			want = fmt.Sprintf("at least %d", v.min)
		case v.min == v.max:
			want = fmt.Sprint(v.min)
		}
		return fmt.Errorf("%s takes %s arguments, got %d", a.verb, want, len(a.args))
	}
	return v.check(r, a)
}

func (r *rendering) unit(name string) (*units.Unit, error) {
	u, ok := r.units[name]
	if !ok {
		return nil, fmt.Errorf("no unit %s; the output has %s", name, strings.Join(r.names(), " "))
	}
	return u, nil
}

func (r *rendering) names() []string {
	ns := make([]string, len(r.out.Files))
	for i, f := range r.out.Files {
		ns[i] = f.Name
	}
	return ns
}

// values returns the values of [SECTION] KEY of UNIT (the first 3 args).
func (r *rendering) values(a assertion) ([]string, error) {
	u, err := r.unit(a.args[0])
	if err != nil {
		return nil, err
	}
	return u.Lookup(a.args[1], a.args[2]), nil
}

// found says what a unit holds for a key, for failure messages.
func found(vals []string) string {
	if len(vals) == 0 {
		return "found no value"
	}
	return fmt.Sprintf("found %d: %q", len(vals), vals)
}

func checkKeyIs(r *rendering, a assertion) error {
	vals, err := r.values(a)
	if err != nil {
		return err
	}
	if !slices.Equal(vals, a.args[3:]) {
		return errors.New(found(vals))
	}
	return nil
}

func checkKeyContains(r *rendering, a assertion) error {
	vals, err := r.values(a)
	if err != nil {
		return err
	}
	for _, v := range vals {
		if strings.Contains(v, a.args[3]) {
			return nil
		}
	}
	return errors.New(found(vals))
}

func checkKeyMissing(r *rendering, a assertion) error {
	vals, err := r.values(a)
	if err != nil {
		return err
	}
	if len(vals) > 0 {
		return errors.New(found(vals))
	}
	return nil
}

func checkExec(r *rendering, a assertion) error {
	vals, err := r.values(a)
	if err != nil {
		return err
	}
	if len(vals) != 1 {
		return fmt.Errorf("want one value, %s", found(vals))
	}
	argv, err := units.SplitExec(vals[0])
	if err != nil {
		return err
	}
	if !slices.Equal(argv, a.args[3:]) {
		return fmt.Errorf("found argv %q (from %q)", argv, vals[0])
	}
	return nil
}

func checkUnitLacks(r *rendering, a assertion) error {
	if _, err := r.unit(a.args[0]); err != nil {
		return err
	}
	for _, f := range r.out.Files {
		if f.Name != a.args[0] {
			continue
		}
		for _, l := range strings.Split(string(f.Data), "\n") {
			if strings.Contains(l, a.args[1]) {
				return fmt.Errorf("found line %q", l)
			}
		}
	}
	return nil
}

func checkUnitMissing(r *rendering, a assertion) error {
	if _, ok := r.units[a.args[0]]; ok {
		return fmt.Errorf("found %s", a.args[0])
	}
	return nil
}

func checkUnits(r *rendering, a assertion) error {
	if ns := r.names(); !slices.Equal(ns, a.args) {
		return fmt.Errorf("found %s", strings.Join(ns, " "))
	}
	return nil
}

func checkLink(r *rendering, a assertion) error {
	if l := strings.Join(a.args, " "); !slices.Contains(r.links, l) {
		return fmt.Errorf("found links:\n\t%s", strings.Join(r.links, "\n\t"))
	}
	return nil
}

func checkLinkMissing(r *rendering, a assertion) error {
	if l := strings.Join(a.args, " "); slices.Contains(r.links, l) {
		return fmt.Errorf("found %q", l)
	}
	return nil
}

// envVars reads back an env file of the output.
func (r *rendering) envVars(file string) (map[string]string, bool, error) {
	b, ok := r.out.Env[file]
	if !ok {
		return nil, false, nil
	}
	vars, err := units.ParseEnvFile(b)
	if err != nil {
		return nil, true, fmt.Errorf("%s: %w", file, err)
	}
	return vars, true, nil
}

func (r *rendering) envFiles() string {
	fs := make([]string, 0, len(r.out.Env))
	for f := range r.out.Env {
		fs = append(fs, f)
	}
	slices.Sort(fs)
	if len(fs) == 0 {
		return "no env file"
	}
	return strings.Join(fs, " ")
}

func checkEnv(r *rendering, a assertion) error {
	vars, ok, err := r.envVars(a.args[0])
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no env file %s; the output has %s", a.args[0], r.envFiles())
	}
	v, set := vars[a.args[1]]
	if !set {
		return fmt.Errorf("%s is not set", a.args[1])
	}
	if v != a.args[2] {
		return fmt.Errorf("found %q", v)
	}
	return nil
}

func checkCommand(r *rendering, a assertion) error {
	vals, err := r.values(assertion{args: []string{a.args[0], "Service", "ExecStart"}})
	if err != nil {
		return err
	}
	if len(vals) != 1 {
		return fmt.Errorf("want one ExecStart=, %s", found(vals))
	}
	program, v, err := units.SplitExecArgsVar(vals[0])
	if err != nil {
		return err
	}
	vars, ok, err := r.envVars(a.args[1])
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no env file %s; the output has %s", a.args[1], r.envFiles())
	}
	args, ok := vars[v]
	if !ok {
		return fmt.Errorf("%s sets no %s", a.args[1], v)
	}
	if argv := append([]string{program}, units.SplitEnvArgs(args)...); !slices.Equal(argv, a.args[2:]) {
		return fmt.Errorf("found argv %q", argv)
	}
	return nil
}

func checkEnvMissing(r *rendering, a assertion) error {
	vars, ok, err := r.envVars(a.args[0])
	if err != nil {
		return err
	}
	if len(a.args) == 1 {
		if ok {
			return fmt.Errorf("found %s", a.args[0])
		}
		return nil
	}
	if !ok {
		return fmt.Errorf("no env file %s; the output has %s", a.args[0], r.envFiles())
	}
	if v, set := vars[a.args[1]]; set {
		return fmt.Errorf("found %s=%q", a.args[1], v)
	}
	return nil
}

// TestAssertions checks the assertions of every case (full-snapshot cases
// may have none; every other case must have some).
func TestAssertions(t *testing.T) {
	total := 0
	for _, c := range goldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			as, err := readAssertions(c.manifest)
			if err != nil {
				t.Fatal(err)
			}
			total += len(as)
			if len(as) == 0 && !c.snapshot {
				t.Fatalf("%s: no assertions: write \"## assert-...\" lines into its tenants/*.yaml saying what the case is for (assert_test.go)", c.dir)
			}
			if len(as) == 0 {
				return
			}
			r, err := newRendering(c.generate(t))
			if err != nil {
				t.Fatalf("%s: the output does not parse: %v", c.name, err)
			}
			for _, a := range as {
				if err := r.run(a); err != nil {
					t.Errorf("%s: %v", a, err)
				}
			}
		})
	}
	if total == 0 {
		t.Fatal("no assertions in any case")
	}
}

// TestAssertionsCanFail proves that each verb can fail, and that bad
// assertion lines are errors rather than passes.
func TestAssertionsCanFail(t *testing.T) {
	c := goldenCase{name: "activation_minimal", dir: "testdata/activation_minimal", manifest: "testdata/activation_minimal"}
	r, err := newRendering(c.generate(t))
	if err != nil {
		t.Fatal(err)
	}
	const svc = "ehecoatl-acme-web.service "
	for _, line := range []string{
		"assert-key-is " + svc + "Service Restart always",
		"assert-key-is " + svc + "Service LogExtraFields EHECOATL_TENANT=acme", // one of two values
		"assert-key-is " + svc + "Service NoSuchKey x",
		"assert-key-is ehecoatl-acme-nosuch.service Service Restart on-failure",
		"assert-key-contains " + svc + "Service ExecStart false",
		"assert-key-missing " + svc + "Service Restart",
		"assert-exec " + svc + "Service ExecStart /bin/false",
		"assert-exec " + svc + "Service LogExtraFields EHECOATL_TENANT=acme", // two values
		"assert-unit-lacks " + svc + "EHECOATL_ARGS",
		"assert-unit-missing ehecoatl-acme-web.socket",
		"assert-units ehecoatl-acme-web.service",
		"assert-link sockets.target.wants/ehecoatl.target -> ../nosuch.target",
		"assert-link-missing sockets.target.wants/ehecoatl.target -> ../ehecoatl.target",
		"assert-env env/acme/web.env A b",
		"assert-env-missing env/acme/web.env EHECOATL_ARGS",
		"assert-env-missing env/acme/web.env",
		"assert-command " + svc + "env/acme/web.env /bin/false",
		"assert-command " + svc + "env/acme/web.env /bin/true extra",
		"assert-command " + svc + "env/acme/nosuch.env /bin/true",
		"assert-command ehecoatl-acme-web.socket env/acme/web.env /bin/true",
		"assert-key-was " + svc + "Service Restart on-failure",
		"assert-key-is " + svc + "Service",
		"assert-key-is " + svc + "Service Restart 'on-failure",
		"",
	} {
		words, err := shellWords(line)
		a := assertion{file: "test", line: 1, text: line, err: err}
		if len(words) > 0 {
			a.verb, a.args = words[0], words[1:]
		}
		if r.run(a) == nil {
			t.Errorf("%q passes on activation_minimal", line)
		}
	}
	for _, line := range []string{
		"assert-key-is " + svc + "Service Restart on-failure",
		"assert-key-is " + svc + "Service LogExtraFields EHECOATL_TENANT=acme EHECOATL_APP=web",
		"assert-key-is " + svc + "Service NoSuchKey",
		"assert-key-is " + svc + "Service ExecStart '/bin/true $EHECOATL_ARGS'",
		"assert-unit-lacks " + svc + "ehecoatl-exec",
		"assert-env-missing env/acme/web.env A",
		"assert-command " + svc + "env/acme/web.env /bin/true",
	} {
		words, _ := shellWords(line)
		a := assertion{verb: words[0], args: words[1:]}
		if err := r.run(a); err != nil {
			t.Errorf("%q fails on activation_minimal: %v", line, err)
		}
	}
}

func TestShellWords(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`a  b	c`, []string{"a", "b", "c"}},
		{`'two words' "say \"hi\"" it\'s`, []string{"two words", `say "hi"`, "it's"}},
		{`'' "" x`, []string{"", "", "x"}},
		{`'C:\dir\' "a\b" \$HOME $HOME`, []string{`C:\dir\`, `a\b`, "$HOME", "$HOME"}},
		{`a'b'"c"d`, []string{"abcd"}},
	} {
		got, err := shellWords(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("shellWords(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{`'a`, `"a`, `a\`} {
		if _, err := shellWords(bad); err == nil {
			t.Errorf("shellWords(%q): no error", bad)
		}
	}
}
