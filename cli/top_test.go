package cli

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ehecoatl top: the endpoint from the router's settings below --root, its
// errors (exit 1, with what to check), usage errors (exit 2), and a run
// against a server that answers like the router.
func TestTop(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close() // nothing listens there

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := os.ReadFile("../top/testdata/examples/b.prom")
		w.Write(b)
	}))
	defer srv.Close()

	settings := func(t *testing.T, line string) string {
		root := t.TempDir()
		os.MkdirAll(filepath.Join(root, "etc/default"), 0o755)
		os.WriteFile(filepath.Join(root, "etc/default/ehecoatl-router"), []byte(line+"\n"), 0o644)
		return root
	}
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		out, err string // substrings
	}{
		{"unreachable from settings", []string{"--root", settings(t, "EHECOATL_METRICS_LISTEN="+closed), "top", "--once"}, ExitFailed, "",
			"cannot reach the router's metrics endpoint http://" + closed + "/metrics: dial tcp " + closed + ": connect: connection refused\n" +
				"  is the router running with its metrics socket? 'systemctl status ehecoatl-router-metrics.socket'"},
		{"off", []string{"--root", settings(t, `EHECOATL_METRICS_LISTEN="off"`), "top"}, ExitFailed, "",
			"the router's metrics endpoint is off (EHECOATL_METRICS_LISTEN=off in "},
		{"bad sort", []string{"top", "--sort", "name"}, ExitUsage, "", "--sort must be one of cpu, memory, rps, errors"},
		{"argument", []string{"top", "acme"}, ExitUsage, "", "top takes no arguments"},
		{"once", []string{"top", "--once", "--interval", "100ms", "--metrics", srv.URL + "/metrics"}, ExitOK, "TENANT/APP", ""},
		{"json", []string{"top", "--json", "--interval", "100ms", "--sort", "rps", "--metrics", srv.URL + "/metrics"}, ExitOK, `"sort": "rps"`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(t, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errOut, tc.err) {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s\nwant in stdout %q, in stderr %q", code, tc.code, out, errOut, tc.out, tc.err)
			}
		})
	}
}
