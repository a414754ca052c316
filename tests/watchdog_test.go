package tests

import (
	"strings"
	"testing"
	"time"
)

const watchdogTenant = `tenant: wd
apps:
  web:
    command: [/usr/local/lib/ehecoatl-test/hello, --notify]
    listen: activation
    domains: [wd.test]
    watchdog: 3s
`

// TestWatchdogRestartsHungApp (docs/MANIFEST.md "watchdog"): an app with
// watchdog: is a Type=notify service that systemd kills and restarts once
// it stops sending WATCHDOG=1, and it serves again after.
func TestWatchdogRestartsHungApp(t *testing.T) {
	h := boot(t)
	h.writeTenant("wd", watchdogTenant)
	h.run("ehecoatl", "apply", "/srv/m")
	const svc, sock = "ehecoatl-wd-web.service", "/run/ehecoatl/wd/web.sock"
	// The first request starts it; the start waits for READY=1, sent from
	// inside the sandbox through the notify socket.
	if code, body := h.get(sock, "wd.test", "/"); code != 200 {
		t.Fatalf("first request: %d %q\n%s", code, body, h.sh("journalctl -u "+svc+" --no-pager | tail -20"))
	}
	for k, want := range map[string]string{"Type": "notify", "NotifyAccess": "main", "WatchdogUSec": "3s", "SubState": "running"} {
		if got := h.prop(svc, k); got != want {
			t.Errorf("%s=%s, want %s", k, got, want)
		}
	}
	pid := h.prop(svc, "MainPID")
	if n := h.propInt(svc, "NRestarts"); n != 0 {
		t.Fatalf("NRestarts=%d before the app hung", n)
	}
	if code, body := h.get(sock, "wd.test", "/hang"); code != 200 {
		t.Fatalf("/hang: %d %q", code, body)
	}
	h.waitFor("systemd to restart the hung app", 60*time.Second, func() bool {
		p := h.prop(svc, "MainPID")
		return h.propInt(svc, "NRestarts") >= 1 && p != "0" && p != pid
	})
	journal := h.sh("journalctl -u " + svc + " --no-pager -o cat")
	if !strings.Contains(journal, "Watchdog timeout") {
		t.Errorf("no \"Watchdog timeout\" in the journal of %s:\n%s", svc, journal)
	}
	for _, l := range strings.Split(journal, "\n") {
		if strings.Contains(l, "Watchdog") || strings.Contains(l, "SIGABRT") {
			t.Logf("journal: %s", l)
		}
	}
	code, body := h.get(sock, "wd.test", "/")
	if code != 200 || strings.Contains(body, "pid "+pid+" ") {
		t.Errorf("after the restart: %d %q (the hung app had pid %s)", code, body, pid)
	}
	t.Logf("pid %s hung, restarted as %s (NRestarts=%d)", pid, h.prop(svc, "MainPID"), h.propInt(svc, "NRestarts"))
}
