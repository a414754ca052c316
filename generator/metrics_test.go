package generator

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ehecoatl/ehecoatl/routerenv"
)

func TestMetricsSocket(t *testing.T) {
	m, err := routerenv.ParseMetrics("[::1]:9100")
	if err != nil {
		t.Fatal(err)
	}
	out, err := MetricsSocket(m)
	if err != nil {
		t.Fatal(err)
	}
	want := `[Unit]
Description=Ehecoatl router metrics (/metrics)
Documentation=man:ehecoatl-router(8)
SourcePath=/etc/default/ehecoatl-router

[Socket]
ListenStream=[::1]:9100
FileDescriptorName=metrics
Service=ehecoatl-router.service
`
	if len(out.Files) != 1 || out.Files[0].Name != "ehecoatl-router-metrics.socket" || string(out.Files[0].Data) != want {
		t.Fatalf("%+v\n%s", out.Files, out.Files[0].Data)
	}
	if len(out.Links) != 1 || out.Links[0].Dir != "sockets.target.wants" || out.Links[0].Target != "../ehecoatl-router-metrics.socket" {
		t.Fatalf("links %+v", out.Links)
	}
	off, err := MetricsSocket(routerenv.Metrics{Off: true})
	if err != nil || len(off.Files)+len(off.Links) != 0 {
		t.Fatalf("off: %+v %v", off, err)
	}
}

// systemd's own parser accepts the socket, with the router's units of
// the package beside it.
func TestMetricsSocketVerify(t *testing.T) {
	bin := needAnalyze(t)
	m, _ := routerenv.ParseMetrics("")
	out, err := MetricsSocket(m)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WriteDir(out, dir); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := analyze(t, bin, dir, "verify", "--man=no", filepath.Join(dir, "ehecoatl-router-metrics.socket"))
	// The router's binary is not installed here: that finding is
	// ehecoatl-router.service's, not the socket's.
	var rest []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if l != "" && !strings.Contains(l, "/usr/bin/ehecoatl-router") && !strings.Contains(l, "ehecoatl-router.service: Command") {
			rest = append(rest, l)
		}
	}
	if err != nil && len(rest) > 0 || len(rest) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, stderr)
	}
}
