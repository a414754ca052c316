package tests

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"
)

// TestApplyKilled kills apply with SIGKILL at random moments of a change
// and checks that the next apply converges and that no tenant loses data.
func TestApplyKilled(t *testing.T) {
	h := boot(t)
	// Two desired states that differ in every way a plan can: a tenant
	// added and one removed, an env change, a kit change.
	h.sh(`set -e
mkdir -p /srv/a /srv/b
cp -r /srv/examples/tenants /srv/examples/kits /srv/a/
cp /srv/testdata/probe/tenants/probe.yaml /srv/a/tenants/
cp -r /srv/a/tenants /srv/a/kits /srv/b/
sed -i 's/PROBE_ENV: one/PROBE_ENV: other/' /srv/b/tenants/probe.yaml
ls /srv/b/tenants | grep -v probe | head -1 | xargs -I{} rm /srv/b/tenants/{}
sed 's/^tenant: probe/tenant: probe2/; s/probe.example.test/probe2.example.test/' /srv/a/tenants/probe.yaml > /srv/b/tenants/probe2.yaml`)
	h.run("ehecoatl", "apply", "/srv/a")
	// Give the probe data that must survive everything below.
	h.get("/run/ehecoatl/probe/web.sock", "probe.example.test", "/")
	visits := len(h.run("cat", "/var/lib/private/ehecoatl-probe-web/visits"))

	// How long a full apply takes, to spread the kills across it.
	start := time.Now()
	h.run("ehecoatl", "apply", "/srv/b")
	full := time.Since(start)
	h.run("ehecoatl", "apply", "/srv/a")
	t.Logf("a full apply a->b takes %s; killing at random points within it", full)

	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	dirs := []string{"/srv/b", "/srv/a"}
	for i := 0; i < 12; i++ {
		dir := dirs[i%2]
		delay := time.Duration(rng.Int63n(int64(full)))
		out := h.sh(fmt.Sprintf("ehecoatl apply %s >/dev/null 2>&1 & p=$!; sleep %.3f; kill -9 $p 2>/dev/null && echo killed || echo finished; wait $p; true", dir, delay.Seconds()))
		t.Logf("round %d: apply %s, SIGKILL after %s: %s", i, dir, delay.Round(time.Millisecond), strings.TrimSpace(out))
		h.run("ehecoatl", "apply", dir)
		h.checkConverged(t, dir)
	}
	// A no-op whose inputs did not change skips rendering, and still
	// starts a socket stopped by hand.
	dir := dirs[11%2]
	h.sh("systemctl stop ehecoatl-probe-web.socket")
	if out := h.run("ehecoatl", "apply", "--timings", dir); !strings.Contains(out, "render: skipped") {
		t.Errorf("a no-op apply rendered:\n%s", out)
	}
	if out, _, _ := h.try("systemctl", "is-active", "ehecoatl-probe-web.socket"); strings.TrimSpace(out) != "active" {
		t.Errorf("the socket stopped by hand is %q after a skipped apply", strings.TrimSpace(out))
	}
	h.checkConverged(t, dir)
	if n := len(h.run("cat", "/var/lib/private/ehecoatl-probe-web/visits")); n < visits {
		t.Errorf("probe state shrank from %d to %d bytes", visits, n)
	}
}

// checkConverged verifies that the host runs exactly dir.
func (h *host) checkConverged(t *testing.T, dir string) {
	t.Helper()
	if out := h.run("ehecoatl", "apply", dir); !strings.Contains(out, "nothing changed") {
		t.Errorf("apply %s after convergence still changed something:\n%s", dir, out)
	}
	want := h.sh(fmt.Sprintf("rm -rf /tmp/g && ehecoatl generate %s /tmp/g >/dev/null && ls /tmp/g/ehecoatl.target.wants | sort", dir))
	listening := h.sh("systemctl list-units --plain --no-legend --state=active 'ehecoatl-*.socket' | awk '{print $1}' | sort")
	if want != listening {
		t.Errorf("after apply %s, listening sockets:\n%s\nwant:\n%s", dir, listening, want)
	}
	installed := h.sh("ls /etc/ehecoatl/tenants | sort")
	desired := h.sh(fmt.Sprintf("ls %s/tenants | sort", dir))
	if installed != desired {
		t.Errorf("installed tenants:\n%s\nwant:\n%s", installed, desired)
	}
	if out := h.run("ehecoatl", "status"); strings.Contains(out, "failed") {
		t.Errorf("status after apply %s shows failures:\n%s", dir, out)
	}
}
