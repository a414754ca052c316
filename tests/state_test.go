package tests

import (
	"strings"
	"testing"
)

// The app appends a line to its state and says how many lines it saw.
const stateTenant = `tenant: acme
apps:
  web:
    command: [/bin/sh, -c, 'echo "saw $(cat "$STATE_DIRECTORY"/log 2>/dev/null | wc -l)"; echo "$$" >> "$STATE_DIRECTORY"/log; exec sleep infinity']
    listen: activation
    domains: [acme.test]
    state: true
    workers: WORKERS
`

// TestStateKeptAcrossWorkers: the workers of an app share one state
// directory, so changing workers: 1 to 2 (and back) keeps the app's data
// in its view, and plan says what happens to the state.
func TestStateKeptAcrossWorkers(t *testing.T) {
	h := boot(t)
	workers := func(n string) { h.writeTenant("acme", strings.Replace(stateTenant, "WORKERS", n, 1)) }
	lines := func() int {
		return len(strings.Fields(h.sh("cat /var/lib/private/ehecoatl-acme-web/log 2>/dev/null || true")))
	}
	workers("1")
	h.run("ehecoatl", "apply", "/srv/m")
	h.run("systemctl", "start", "ehecoatl-acme-web.service")
	h.waitFor("worker 1 wrote its state", 30e9, func() bool { return lines() == 1 })

	workers("2")
	out := h.run("ehecoatl", "plan", "/srv/m")
	t.Logf("plan workers 1 -> 2:\n%s", out)
	if !strings.Contains(out, "~ app acme/web: workers") || !strings.Contains(out, "state: kept in /var/lib/private/ehecoatl-acme-web") {
		t.Errorf("plan does not say what happens to the state:\n%s", out)
	}
	h.run("ehecoatl", "apply", "/srv/m")
	for _, u := range []string{"ehecoatl-acme-web@1.service", "ehecoatl-acme-web@2.service"} {
		if got := h.prop(u, "StateDirectory"); got != "ehecoatl-acme-web" {
			t.Errorf("%s: StateDirectory=%s, want ehecoatl-acme-web", u, got)
		}
		h.run("systemctl", "start", u)
	}
	h.waitFor("both workers wrote their state", 30e9, func() bool { return lines() == 3 })
	journal := h.sh("journalctl -q -o cat -u 'ehecoatl-acme-web@*.service' | grep saw || true")
	t.Logf("the workers said:\n%s", journal)
	if !strings.Contains(journal, "saw 1") && !strings.Contains(journal, "saw 2") {
		t.Errorf("no worker saw the data of the single worker:\n%s", journal)
	}
	if own := h.sh("stat -c %U /var/lib/private/ehecoatl-acme-web/log"); strings.TrimSpace(own) != "ehecoatl-acme-web" {
		t.Errorf("the state belongs to %s", own)
	}
	if out := h.sh("ls /var/lib/private"); strings.Contains(out, "ehecoatl-acme-web-") {
		t.Errorf("per-worker state directories appeared:\n%s", out)
	}

	// Back to one worker: the data is still there.
	workers("1")
	h.run("ehecoatl", "apply", "/srv/m")
	h.run("systemctl", "start", "ehecoatl-acme-web.service")
	h.waitFor("the single worker wrote its state", 30e9, func() bool { return lines() == 4 })
	if j := h.sh("journalctl -q -o cat -u ehecoatl-acme-web.service | grep saw"); !strings.Contains(j, "saw 3") {
		t.Errorf("the single worker did not see the workers' data:\n%s", j)
	}

	// Directories of an older Ehecoatl (per worker) are kept and named.
	h.sh("mkdir -p /var/lib/private/ehecoatl-acme-web-2 && echo old > /var/lib/private/ehecoatl-acme-web-2/data")
	workers("2")
	out = h.run("ehecoatl", "plan", "/srv/m")
	t.Logf("plan with an old per-worker directory:\n%s", out)
	if !strings.Contains(out, "/var/lib/private/ehecoatl-acme-web-2") {
		t.Errorf("plan does not name the old per-worker state directory:\n%s", out)
	}
	h.run("ehecoatl", "apply", "/srv/m")
	if got := h.sh("cat /var/lib/private/ehecoatl-acme-web-2/data"); got != "old\n" {
		t.Errorf("the old per-worker state: %q", got)
	}
}
