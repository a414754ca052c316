package bootgen

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ehecoatl/ehecoatl/naming"
	"github.com/ehecoatl/ehecoatl/routerenv"
)

// EHECOATL_METRICS_LISTEN in /etc/default/ehecoatl-router makes the
// metrics socket: an address, off (none), or a bad value (none, and a
// message with the file's line and what to write).
func TestGeneratorMetricsSocket(t *testing.T) {
	for _, c := range []struct {
		setting, listen, log string
	}{
		{"", "ListenStream=127.0.0.1:9808\n", ""},
		{"EHECOATL_ROUTER_OPTS=\"\"\nEHECOATL_METRICS_LISTEN=\"[::1]:9100\"\n", "ListenStream=[::1]:9100\n", ""},
		{"EHECOATL_METRICS_LISTEN=\"off\"\n", "", ""},
		{"# x\nEHECOATL_METRICS_LISTEN=\"localhost:9808\"\n", "", "no metrics socket written: /etc/default/ehecoatl-router:2: EHECOATL_METRICS_LISTEN=\"localhost:9808\" is not ADDRESS:PORT"},
	} {
		root := t.TempDir()
		if c.setting != "" {
			writeFile(t, filepath.Join(root, routerenv.Path), c.setting)
		}
		var l logs
		dirs := genDirs(t)
		if err := (SystemdGenerator{Root: root, Log: l.log}).Run(dirs); err != nil {
			t.Fatal(err)
		}
		got := tree(t, dirs[0])
		unit, link := got[naming.RouterMetricsSocket], got["sockets.target.wants/"+naming.RouterMetricsSocket]
		switch {
		case c.listen == "" && (unit != "" || link != ""):
			t.Errorf("%q: a socket %q %q", c.setting, unit, link)
		case c.listen != "" && (!strings.Contains(unit, c.listen) || link != "-> ../"+naming.RouterMetricsSocket):
			t.Errorf("%q: socket %q, link %q", c.setting, unit, link)
		}
		if c.log == "" && len(l.lines) > 0 || c.log != "" && !l.contains(c.log) {
			t.Errorf("%q: logged %q", c.setting, l.lines)
		}
		if c.log != "" && !l.contains(routerenv.Hint) {
			t.Errorf("no hint: %q", l.lines)
		}
	}
}
