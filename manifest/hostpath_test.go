package manifest

import (
	"io/fs"
	"os"
	"strings"
	"testing"
)

// fakeHost replaces the symlink resolver and stat with a map of this
// host's links and file types, for the length of one test.
func fakeHost(t *testing.T, links map[string]string, modes map[string]fs.FileMode) {
	t.Helper()
	eval, stat := evalSymlinks, statPath
	t.Cleanup(func() { evalSymlinks, statPath = eval, stat })
	evalSymlinks = func(p string) (string, error) {
		for from, to := range links {
			if p == from || strings.HasPrefix(p, from+"/") {
				return to + strings.TrimPrefix(p, from), nil
			}
		}
		if _, ok := modes[p]; ok {
			return p, nil
		}
		return "", os.ErrNotExist
	}
	statPath = func(p string) (fs.FileMode, error) {
		if m, ok := modes[p]; ok {
			return m, nil
		}
		return 0, os.ErrNotExist
	}
}

// A path that reads as harmless is judged again as this host resolves it:
// a link under /srv to /proc/1/root would bind the host's whole root into
// the sandbox (issue: read_only: [/proc/1/root] undid the sandbox).
func TestHostPathsResolveSymlinks(t *testing.T) {
	fakeHost(t, map[string]string{
		"/srv/root":    "/proc/1/root",
		"/srv/beta":    "/var/lib/private/ehecoatl-beta-web",
		"/srv/secrets": "/etc/ehecoatl/secrets",
		"/srv/code":    "/opt/code",
		"/srv/pg":      "/run/postgresql",
		"/srv/journal": "/run/systemd/journal",
		"/var/run":     "/run",
		"/srv/weird":   "/data/acme",
	}, map[string]fs.FileMode{
		"/opt/code":                          fs.ModeDir,
		"/run/postgresql/.s.PGSQL.5432":      fs.ModeSocket,
		"/run/postgresql/pg.pid":             0,
		"/run/systemd/journal/stdout":        fs.ModeSocket,
		"/data/acme":                         fs.ModeDir,
		"/proc/1/root":                       fs.ModeDir,
		"/var/lib/private/ehecoatl-beta-web": fs.ModeDir,
		"/etc/ehecoatl/secrets":              fs.ModeDir,
	})
	for _, c := range []struct {
		check func(string) *problem
		path  string
		want  string // "" = accepted
	}{
		{checkReadOnly, "/srv/root", `resolves to /proc/1/root`},
		{checkReadOnly, "/srv/beta", `inside /var/lib/private`},
		{checkReadOnly, "/srv/secrets/beta", `inside /etc/ehecoatl`},
		{checkReadOnly, "/srv/weird", `resolves to /data/acme`},
		{checkReadOnly, "/srv/code", ""},
		{checkReadOnly, "/srv/missing", ""}, // judged as written; apply judges it again as root
		{checkReadOnly, "/srv/beta/not-yet", `resolves to /var/lib/private/ehecoatl-beta-web/not-yet`},
		{checkReadOnly, "/srv/root/later/x", `resolves to /proc/1/root/later/x`},
		{checkConnect, "/srv/pg/.s.PGSQL.5432", ""},
		{checkConnect, "/srv/pg/pg.pid", "is not a unix socket"},
		{checkConnect, "/srv/journal/stdout", "inside /run/systemd"},
		{checkConnect, "/run/postgresql/.s.PGSQL.5432", ""},
		{checkConnect, "/srv/code", "is not a unix socket"},
		// BindReadOnlyPaths= would split these (the generator used to be
		// the one to refuse them, without a position).
		{checkReadOnly, "/srv/a:b", `contains ":"`},
		{checkReadOnly, "/srv/a b", `contains " "`},
		{checkConnect, "/run/x/a\\b.sock", `contains "\\"`},
	} {
		p := c.check(c.path)
		switch {
		case c.want == "" && p != nil:
			t.Errorf("%s: refused: %s", c.path, p.msg)
		case c.want != "" && p == nil:
			t.Errorf("%s: accepted, want a finding containing %q", c.path, c.want)
		case c.want != "" && !strings.Contains(p.msg, c.want):
			t.Errorf("%s: %s; want it to contain %q", c.path, p.msg, c.want)
		}
	}
}
