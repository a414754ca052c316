package units

import (
	"slices"
	"strings"
	"testing"
)

func TestAddExec(t *testing.T) {
	cases := []struct {
		argv      []string
		want, err string
	}{
		{argv: []string{"/srv/shop/bin/shop", "--mode", "prod"}, want: "/srv/shop/bin/shop --mode prod"},
		{argv: []string{"/bin/echo", "a b"}, want: `/bin/echo "a b"`},
		{argv: []string{"/bin/echo", ""}, want: `/bin/echo ""`},
		{argv: []string{"/bin/echo", `say "hi"`}, want: `/bin/echo "say \"hi\""`},
		{argv: []string{"/bin/echo", "it's"}, want: `/bin/echo "it's"`},
		{argv: []string{"/bin/echo", `C:\dir\`}, want: `/bin/echo "C:\\dir\\"`},
		{argv: []string{"/bin/echo", "$HOME", "${X}", "a$b"}, want: "/bin/echo $$HOME $${X} a$$b"},
		{argv: []string{"/bin/echo", "100%", "%i"}, want: "/bin/echo 100%% %%i"},
		{argv: []string{"/bin/echo", ";", "a;", `\;`}, want: `/bin/echo \; a; "\\;"`},
		{argv: []string{"/bin/echo", "日本語", "a b ü"}, want: `/bin/echo 日本語 "a b ü"`},
		{argv: []string{"/opt/my app/run"}, want: `"/opt/my app/run"`},
		{argv: []string{"/opt/50%/run"}, want: `/opt/50%%/run`},
		{argv: []string{"/bin/echo", "-", "@x", "+y"}, want: "/bin/echo - @x +y"},
		{argv: nil, err: "empty argv"},
		{argv: []string{"echo", "x"}, err: `argv[0] "echo" is not an absolute path`},
		{argv: []string{"", "x"}, err: `argv[0] "" is not an absolute path`},
		{argv: []string{"-/bin/echo"}, err: "not an absolute path"},
		{argv: []string{"@/bin/echo", "echo"}, err: "not an absolute path"},
		{argv: []string{"/bin/"}, err: "names a directory"},
		{argv: []string{"/bin/../bin/echo"}, err: "not a clean path"},
		{argv: []string{"/bin//echo"}, err: "not a clean path"},
		{argv: []string{"/opt/$app/run"}, err: "holds '$'"},
		{argv: []string{`/opt/q"uote/run`}, err: "holds a quote or backslash"},
		{argv: []string{"/opt/it's/run"}, err: "holds a quote or backslash"},
		{argv: []string{`/opt/back\slash/run`}, err: "holds a quote or backslash"},
		{argv: []string{"/bin/echo", "a\nb"}, err: "argv[1]: line break at byte 1"},
		{argv: []string{"/bin/echo", "a\tb"}, err: "argv[1]: tab"},
		{argv: []string{"/bin/echo", "ok", "\x00"}, err: "argv[2]: NUL byte"},
		{argv: []string{"/bin/echo", "\xc3"}, err: "argv[1]: invalid UTF-8"},
		{argv: []string{"/bin/e\x7fcho"}, err: "argv[0]: control character"},
		{argv: []string{"/" + strings.Repeat("x", 256)}, err: "longer than 255"},
	}
	for _, c := range cases {
		u := New("t.service")
		u.Section("Service").AddExec("ExecStart", c.argv)
		err := u.Err()
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want one containing %q", c.argv, err, c.err)
			} else if !strings.Contains(err.Error(), "[Service] ExecStart: ") {
				t.Errorf("%q: error %q does not name the section and key", c.argv, err)
			}
			continue
		}
		got := u.Lookup("Service", "ExecStart")
		if err != nil || len(got) != 1 || got[0] != c.want {
			t.Errorf("%q: got %q, %v; want %q", c.argv, got, err, c.want)
			continue
		}
		back, err := SplitExec(got[0])
		if err != nil || !slices.Equal(back, c.argv) {
			t.Errorf("%q: SplitExec(%q) = %q, %v", c.argv, got[0], back, err)
		}
	}
}

func TestAddExecSpecifier(t *testing.T) {
	u := New("ehecoatl-acme-web-bridge@.service")
	s := u.Section("Service")
	s.AddExecSpecifier("ExecStart", []string{"/usr/bin/ehecoatl", "bridge", "--socket=/run/ehecoatl/acme/web@%i.sock", "--rate=5%%", "plain"})
	want := `/usr/bin/ehecoatl bridge "--socket=/run/ehecoatl/acme/web@%i.sock" "--rate=5%%" plain`
	if got := u.Lookup("Service", "ExecStart"); len(got) != 1 || got[0] != want {
		t.Fatalf("got %q, want %q (err %v)", got, want, u.Err())
	}
	argv, err := Specifiers{'i': "2"}.SplitExec(want)
	if err != nil || !slices.Equal(argv, []string{"/usr/bin/ehecoatl", "bridge", "--socket=/run/ehecoatl/acme/web@2.sock", "--rate=5%", "plain"}) {
		t.Errorf("SplitExec = %q, %v", argv, err)
	}
	// An instance with a space stays one argument because the word is quoted.
	argv, err = Specifiers{'i': "a b"}.SplitExec(want)
	if err != nil || len(argv) != 5 {
		t.Errorf("instance with a space: %q, %v", argv, err)
	}
	if _, err := SplitExec(want); err == nil || !strings.Contains(err.Error(), "%i has no value") {
		t.Errorf("SplitExec without specifiers: %v", err)
	}
	s.AddExecSpecifier("ExecStartPost", []string{"/bin/echo", "%d"})
	if err := u.Err(); err == nil || !strings.Contains(err.Error(), `ExecStartPost: argv[1]: specifier "%d" is not allowed`) {
		t.Errorf("disallowed specifier: %v", err)
	}
}

// TestSplitExec decodes command lines written by hand or by systemd's own
// conventions, including forms AddExec never writes.
func TestSplitExec(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		err  string
	}{
		{in: "/bin/echo a b", want: []string{"/bin/echo", "a", "b"}},
		{in: "  /bin/echo   a\t b  ", want: []string{"/bin/echo", "a", "b"}},
		{in: `/bin/echo "a b" 'c d' ""`, want: []string{"/bin/echo", "a b", "c d", ""}},
		{in: `/bin/echo x"y z"w 'a'"b"`, want: []string{"/bin/echo", "xy zw", "ab"}},
		{in: `/bin/echo "a\"b" 'a\'b' "it's"`, want: []string{"/bin/echo", `a"b`, "a'b", "it's"}},
		{in: `/bin/echo \x41\101\u00e9\U0001F4A9 \s`, want: []string{"/bin/echo", "AAé💩", " "}},
		{in: `/bin/echo \; \\; ";"`, want: []string{"/bin/echo", ";", `\;`, ";"}},
		{in: `/bin/echo "\;"`, err: `unknown escape \;`}, // systemd warns and keeps the backslash
		{in: "/bin/echo $$HOME 100%%", want: []string{"/bin/echo", "$HOME", "100%"}},
		{in: `"/opt/my app/run" x`, want: []string{"/opt/my app/run", "x"}},
		{in: "", err: "empty argv"},
		{in: "/bin/echo a ; /bin/echo b", err: "several commands"},
		{in: "; /bin/echo b", err: "several commands"},
		{in: "/bin/echo $HOME", err: "variable reference"},
		{in: "/bin/echo ${HOME}", err: "variable reference"},
		{in: "/bin/echo %i", err: "%i has no value"},
		{in: "/bin/echo 5%", err: "lone '%'"},
		{in: `/bin/echo "open`, err: "unbalanced quotes"},
		{in: `/bin/echo \w`, err: `unknown escape \w`},
		{in: `/bin/echo a\`, err: "trailing backslash"},
		{in: `/bin/echo \x00`, err: "unknown escape"},
		{in: `/bin/echo \x4`, err: "unknown escape"},
		{in: `/bin/echo \400`, err: "unknown escape"},
		{in: `/bin/echo \UFFFFFFFF`, err: "unknown escape"},
		{in: `/bin/echo "\n"`, err: "argv[1]: line break"},
		{in: `/bin/echo \xff`, err: "argv[1]: invalid UTF-8"},
		{in: "-/bin/echo", err: "not an absolute path"},
		{in: "echo hi", err: "not an absolute path"},
	}
	for _, c := range cases {
		got, err := SplitExec(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: got %q, %v; want error %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%q: got %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}
