package tests

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/tests/harness"
	"github.com/ehecoatl/ehecoatl/tests/install"
)

// metricsAddr is the metrics socket's default address (docs/METRICS.md).
const metricsAddr = "127.0.0.1:9808"

// TestMetricsListener: a machine booted with the package's
// /etc/default/ehecoatl-router (EHECOATL_METRICS_LISTEN empty) gets
// ehecoatl-router-metrics.socket from the boot-time generator, on
// 127.0.0.1:9808; after `ehecoatl apply` of the examples /metrics answers
// 200 with the table's size and 404 elsewhere (no tenant's route);
// EHECOATL_METRICS_LISTEN=off and a daemon-reload take the socket away,
// and the router still serves requests.
func TestMetricsListener(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: boots a real systemd (run without -short)")
	}
	// The guest shares the host's network namespace: the port must be
	// free here, or the guest's socket cannot bind it.
	if l, err := net.Listen("tcp", metricsAddr); err != nil {
		t.Fatalf("%s is taken on this host (%v): the guest's metrics socket could not listen", metricsAddr, err)
	} else {
		l.Close()
	}
	files := installed()
	files["/etc/default/ehecoatl-router"] = filepath.Join(repo, "packaging/default/ehecoatl-router")
	h := &host{t: t, m: harness.BootT(t, harness.Options{Files: files})}

	if st := h.prop("ehecoatl-router-metrics.socket", "ActiveState"); st != "active" {
		t.Fatalf("after boot: ehecoatl-router-metrics.socket is %q\n%s", st, h.sh("systemctl status ehecoatl-router-metrics.socket 2>&1 || true"))
	}
	if got := h.prop("ehecoatl-router-metrics.socket", "FragmentPath"); got != "/run/systemd/generator/ehecoatl-router-metrics.socket" {
		t.Errorf("FragmentPath %q: not the generator's", got)
	}
	if got := h.prop("ehecoatl-router-metrics.socket", "Listen"); !strings.Contains(got, metricsAddr) {
		t.Errorf("Listen=%q, want %s", got, metricsAddr)
	}

	port, err := install.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	h.sh(fmt.Sprintf(`set -e
mkdir -p /run/systemd/system/ehecoatl-router.socket.d
printf '[Socket]\nListenStream=\nListenStream=127.0.0.1:%d\n' > /run/systemd/system/ehecoatl-router.socket.d/test.conf
systemctl daemon-reload
systemctl restart ehecoatl-router.socket`, port))
	out := h.run("ehecoatl", "apply", "/srv/examples")
	t.Logf("apply:\n%s", out)

	c := &http.Client{Timeout: 30 * time.Second}
	get := func(path string) (int, string) {
		resp, err := c.Get("http://" + metricsAddr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/metrics")
	m := regexp.MustCompile(`(?m)^ehecoatl_router_routes (\d+)$`).FindStringSubmatch(body)
	if code != 200 || m == nil {
		t.Fatalf("/metrics: %d\n%.2000s", code, body)
	}
	if n, _ := strconv.Atoi(m[1]); n < 5 {
		t.Errorf("ehecoatl_router_routes %s: the examples' routes are not in the table", m[1])
	}
	for _, want := range []string{"ehecoatl_router_apps ", "ehecoatl_build_info{", "go_goroutines ", "process_open_fds "} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics has no %q", want)
		}
	}
	if code, body := get("/"); code != 404 {
		t.Errorf("/ on the metrics listener: %d %q", code, body)
	}
	// The router got the socket from systemd: its own process listens.
	if pid := h.prop("ehecoatl-router.service", "MainPID"); pid == "0" {
		t.Errorf("the router is not running")
	}

	h.sh(`set -e
sed -i 's/^EHECOATL_METRICS_LISTEN=.*/EHECOATL_METRICS_LISTEN="off"/' /etc/default/ehecoatl-router
systemctl daemon-reload
systemctl stop ehecoatl-router-metrics.socket
systemctl restart ehecoatl-router.service`)
	if _, _, code := h.try("test", "-e", "/run/systemd/generator/ehecoatl-router-metrics.socket"); code == 0 {
		t.Errorf("the generator still wrote the socket with off")
	}
	if got := h.prop("ehecoatl-router-metrics.socket", "LoadState"); got != "not-found" {
		t.Errorf("with off: LoadState %q, want not-found", got)
	}
	if _, err := (&net.Dialer{Timeout: 2 * time.Second}).Dial("tcp", metricsAddr); err == nil {
		t.Errorf("something still listens on %s with off", metricsAddr)
	}
	r := &routed{host: h, port: port, client: &http.Client{Timeout: 60 * time.Second}}
	if code, _, err := r.fetch("globex.example.test", "/"); err != nil || code != 200 {
		t.Errorf("the router without its metrics socket: %d %v", code, err)
	}
}
