package tests

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const healthTenant = `tenant: hc
apps:
  web:
    command: [/usr/local/lib/ehecoatl-test/hello]
    listen: activation
    domains: [hc.test]
    workers: 2
    health: /healthz
`

// An app the router stops for idleness, whose probes must not start it.
const healthIdleTenant = `tenant: hi
apps:
  web:
    command: [/usr/local/lib/ehecoatl-test/hello]
    listen: activation
    domains: [hi.test]
    idle_timeout: 2s
    health: /healthz
`

// TestHealthChecks (docs/OPERATIONS.md "Health checks"): a 2-worker app
// under load loses at most a handful of requests when one worker is
// SIGKILLed, then none; a worker whose health: path fails is taken out
// (all requests go to the other), said in the journal with the tenant's
// fields and in ehecoatl status, and brought back once it passes; an idle
// app is never woken by a probe.
func TestHealthChecks(t *testing.T) {
	r := bootRouted(t)
	h := r.host
	// Probes every 2 s instead of 10, so that the test waits less.
	h.sh(`echo 'EHECOATL_ROUTER_OPTS="-health-interval=2s"' >> /etc/default/ehecoatl-router; systemctl try-restart ehecoatl-router.service`)
	h.writeTenant("hc", healthTenant)
	h.writeTenant("hi", healthIdleTenant)
	h.run("ehecoatl", "apply", "/srv/m")
	pidOf := func(i int) string { return h.prop(fmt.Sprintf("ehecoatl-hc-web@%d.service", i), "MainPID") }
	// Both workers run once each has taken a request.
	h.waitFor("both workers running", 60*time.Second, func() bool {
		r.fetch("hc.test", "/")
		return pidOf(1) != "0" && pidOf(2) != "0"
	})

	t.Run("kill a worker under load", func(t *testing.T) {
		h := h.on(t)
		// A bounded load: 4 clients, 1500 requests, half of them streamed
		// over 50 ms (so that some are in flight when the worker dies);
		// worker 2 is killed once 300 have been answered.
		const clients, total, killAt = 4, 1500, 300
		var mu sync.Mutex
		var errs []string
		var done, afterKill int
		var firstErrAfter, lastErrAfter = -1, -1
		killed := make(chan struct{})
		var once sync.Once
		oldPid := pidOf(2)
		var wg sync.WaitGroup
		next := make(chan int, total)
		for i := 0; i < total; i++ {
			next <- i
		}
		close(next)
		for c := 0; c < clients; c++ {
			wg.Add(1)
			path, want := "/", "hello from hc/web"
			if c%2 == 1 {
				path, want = "/stream?n=5", "chunk 4\n"
			}
			go func() {
				defer wg.Done()
				for range next {
					code, body, err := r.fetch("hc.test", path)
					mu.Lock()
					done++
					k := false
					select {
					case <-killed:
						k = true
						afterKill++
					default:
					}
					if err != nil || code != 200 || !strings.Contains(body, want) {
						errs = append(errs, fmt.Sprintf("request %d (GET %s): %d %q %v", done, path, code, strings.TrimSpace(body), err))
						if k {
							if firstErrAfter < 0 {
								firstErrAfter = afterKill
							}
							lastErrAfter = afterKill
						}
					}
					if done == killAt {
						once.Do(func() {
							h.run("kill", "-9", oldPid)
							close(killed)
						})
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		t.Logf("%d requests, worker 2 (pid %s) SIGKILLed after %d: %d errors (first/last at the %d/%d-th request after the kill)",
			total, oldPid, killAt, len(errs), firstErrAfter, lastErrAfter)
		for _, e := range errs {
			t.Logf("  %s", e)
		}
		if len(errs) > 8 {
			t.Errorf("%d errors when one of two workers was killed, want at most a handful", len(errs))
		}
		if lastErrAfter > 200 {
			t.Errorf("an error at the %d-th request after the kill: the errors did not stop", lastErrAfter)
		}
		// systemd restarted it, and it serves again: no error from here on.
		h.waitFor("worker 2 restarted", 60*time.Second, func() bool { p := pidOf(2); return p != "0" && p != oldPid })
		if n := h.propInt("ehecoatl-hc-web@2.service", "NRestarts"); n < 1 {
			t.Errorf("NRestarts of worker 2 = %d", n)
		}
		pids := map[string]int{}
		bad := 0
		for i := 0; i < 200; i++ {
			code, body, err := r.fetch("hc.test", "/")
			if err != nil || code != 200 {
				bad++
				continue
			}
			if f := strings.Fields(body); len(f) > 4 {
				pids[f[4]]++
			}
		}
		if bad != 0 || pids[pidOf(1)] == 0 || pids[pidOf(2)] == 0 {
			t.Errorf("after the restart: %d errors in 200 requests, answered by %v (workers %s, %s)", bad, pids, pidOf(1), pidOf(2))
		}
	})

	t.Run("worker socket gone", func(t *testing.T) {
		h := h.on(t)
		// Its connects fail: each request is sent to worker 1 instead,
		// and after 3 failures worker 2 is down (passive).
		h.run("systemctl", "stop", "ehecoatl-hc-web@2.socket", "ehecoatl-hc-web@2.service")
		bad := 0
		for i := 0; i < 40; i++ {
			if code, body, err := r.fetch("hc.test", "/"); err != nil || code != 200 {
				bad++
				t.Logf("request %d: %d %q %v", i, code, body, err)
			}
		}
		if bad != 0 {
			t.Errorf("%d of 40 requests failed with worker 2's socket stopped", bad)
		}
		out, _, _ := h.try("journalctl", "--no-pager", "-o", "cat", "EHECOATL_TENANT=hc", "EHECOATL_INSTANCE=2", "EHECOATL_HEALTH=down")
		if !strings.Contains(out, "hc/web@2 is down: 3 failed requests within 10s (last: dial unix /run/ehecoatl/hc/web@2.sock: connect: ") {
			t.Errorf("journal of worker 2 going down:\n%s", out)
		}
		t.Logf("journal: %s", strings.TrimSpace(out))
		// Its service does not run, so no probe judges it: the cool-down
		// brings it back, and the next request starts it again.
		h.run("systemctl", "start", "ehecoatl-hc-web@2.socket")
		h.waitFor("worker 2 up after the cool-down", 60*time.Second, func() bool {
			out, _, _ := h.try("journalctl", "--no-pager", "-o", "cat", "EHECOATL_TENANT=hc", "EHECOATL_INSTANCE=2", "EHECOATL_HEALTH=up")
			return strings.Contains(out, "hc/web@2 is up: cool-down of 10s over")
		})
		h.waitFor("worker 2 serving again", 60*time.Second, func() bool {
			r.fetch("hc.test", "/")
			return pidOf(2) != "0"
		})
	})

	t.Run("failing health check", func(t *testing.T) {
		h := h.on(t)
		// /sick goes to one of the workers; its /healthz then fails for 20 s.
		code, body, err := r.fetch("hc.test", "/sick?s=20")
		if err != nil || code != 200 {
			t.Fatalf("/sick: %d %q %v", code, body, err)
		}
		sickPid := strings.Fields(body)[1]
		sick, other := 1, 2
		if pidOf(2) == sickPid {
			sick, other = 2, 1
		} else if pidOf(1) != sickPid {
			t.Fatalf("/sick answered by pid %s, neither worker (%s, %s)", sickPid, pidOf(1), pidOf(2))
		}
		down := fmt.Sprintf("hc/web@%d is down: failed 3 health checks", sick)
		journal := func(health string) string {
			out, _, _ := h.try("journalctl", "--no-pager", "-o", "json", "EHECOATL_TENANT=hc", "EHECOATL_HEALTH="+health)
			return out
		}
		h.waitFor("the sick worker down in the journal", 60*time.Second, func() bool { return strings.Contains(journal("down"), down) })
		var e map[string]any
		for _, l := range strings.Split(journal("down"), "\n") {
			if strings.Contains(l, down) {
				json.Unmarshal([]byte(l), &e)
			}
		}
		if e["EHECOATL_APP"] != "web" || e["EHECOATL_INSTANCE"] != strconv.Itoa(sick) || e["_SYSTEMD_UNIT"] != "ehecoatl-router.service" {
			t.Errorf("journal entry: %v", e)
		}
		t.Logf("journal: %s", e["MESSAGE"])
		// Every request goes to the other worker meanwhile.
		otherPid := pidOf(other)
		for i := 0; i < 20; i++ {
			code, body, err := r.fetch("hc.test", "/")
			if err != nil || code != 200 || !strings.Contains(body, "pid "+otherPid+" ") {
				t.Errorf("with worker %d down: %d %q %v, want an answer of pid %s", sick, code, body, err, otherPid)
			}
		}
		instance := func() map[string]any {
			for _, a := range h.statusJSON("hc/web") {
				ins, _ := a["instances"].([]any)
				for _, x := range ins {
					m := x.(map[string]any)
					if m["instance"] == float64(sick) {
						return m
					}
				}
			}
			return nil
		}
		if in := instance(); in == nil || in["health"] != "down" || !strings.HasPrefix(fmt.Sprint(in["reason"]), "failed 3 health checks") {
			t.Errorf("status --json: instance %d is %v", sick, in)
		}
		table := h.run("ehecoatl", "status", "hc")
		t.Logf("status:\n%s", table)
		if !strings.Contains(table, "1/2 up") || !strings.Contains(table, fmt.Sprintf("hc/web@%d: down since", sick)) {
			t.Errorf("status does not show worker %d down", sick)
		}
		// Healthy again after 20 s: two passed probes bring it back.
		up := fmt.Sprintf("hc/web@%d is up: passed 2 health checks (GET /healthz)", sick)
		h.waitFor("the worker up again in the journal", 90*time.Second, func() bool { return strings.Contains(journal("up"), up) })
		h.waitFor("status shows it up", 30*time.Second, func() bool { in := instance(); return in != nil && in["health"] == "up" })
		if table := h.run("ehecoatl", "status", "hc"); !strings.Contains(table, "running  up") {
			t.Errorf("status after recovery:\n%s", table)
		}
	})

	t.Run("idle app not probed", func(t *testing.T) {
		h := h.on(t)
		const svc = "ehecoatl-hi-web.service"
		starts := func() string {
			return strings.TrimSpace(h.sh("journalctl -u " + svc + " --no-pager -o cat | grep -c 'hello: serving' || true"))
		}
		// Five probe intervals (-health-interval=2s) each: the app stays
		// stopped, never started (since apply) and stopped by the router
		// for idleness.
		staysStopped := func(what string) {
			for i := 0; i < 10; i++ {
				time.Sleep(time.Second)
				if st := h.prop(svc, "ActiveState"); st != "inactive" {
					t.Fatalf("the %s app is %s: something started it (%s starts)", what, st, starts())
				}
			}
		}
		staysStopped("never requested")
		if n := starts(); n != "0" {
			t.Fatalf("the never requested app started %s times", n)
		}
		if code, body, err := r.fetch("hi.test", "/"); err != nil || code != 200 {
			t.Fatalf("first request: %d %q %v", code, body, err)
		}
		h.waitFor("the router to stop the idle app", 60*time.Second, func() bool { return h.prop(svc, "ActiveState") == "inactive" })
		staysStopped("idle")
		if n := starts(); n != "1" {
			t.Errorf("the app started %s times for one request", n)
		}
		if code, body, err := r.fetch("hi.test", "/"); err != nil || code != 200 {
			t.Errorf("request after the idle stop: %d %q %v", code, body, err)
		}
	})
}
