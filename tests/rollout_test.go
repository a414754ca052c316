package tests

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loop is a bounded request loop through the router to one host: fast
// GETs and slow POSTs (?sleep=2s) from several goroutines, counting 2xx
// answers, other answers and dropped connections (a transport error: no
// answer at all). The slow requests are POSTs with a body because the
// router resends a GET whose kept-alive connection died before any answer
// (exchange.go), which would hide a request lost in a restart.
type loop struct {
	ok, non2xx, dropped, slow atomic.Int64
	mu                        sync.Mutex
	last                      []string // the first failures, for the log
	stop                      chan struct{}
	wg                        sync.WaitGroup
}

func (r *routed) startLoop(host string, fast, slow int) *loop {
	l := &loop{stop: make(chan struct{})}
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	one := func(path string) {
		method, body := "GET", io.Reader(nil)
		if path != "/" {
			method, body = "POST", strings.NewReader("slow")
		}
		req, _ := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d%s", r.port, path), body)
		req.Host = host
		resp, err := client.Do(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		switch {
		case err != nil:
			l.dropped.Add(1)
			l.note(fmt.Sprintf("%s %s: %v", host, path, err))
		case resp.StatusCode/100 != 2:
			l.non2xx.Add(1)
			l.note(fmt.Sprintf("%s %s: %d", host, path, resp.StatusCode))
		default:
			l.ok.Add(1)
			if path != "/" {
				l.slow.Add(1)
			}
		}
	}
	run := func(path string, pause time.Duration) {
		defer l.wg.Done()
		// Bounded: at most this long however the test goes.
		end := time.Now().Add(8 * time.Minute)
		for time.Now().Before(end) {
			select {
			case <-l.stop:
				return
			default:
			}
			one(path)
			time.Sleep(pause)
		}
	}
	for i := 0; i < fast; i++ {
		l.wg.Add(1)
		go run("/", 20*time.Millisecond)
	}
	for i := 0; i < slow; i++ {
		l.wg.Add(1)
		go run("/?sleep=2s", 0)
	}
	return l
}

func (l *loop) note(s string) {
	l.mu.Lock()
	if len(l.last) < 10 {
		l.last = append(l.last, time.Now().Format("15:04:05.000")+" "+s)
	}
	l.mu.Unlock()
}

func (l *loop) end() { close(l.stop); l.wg.Wait() }

func (l *loop) String() string {
	return fmt.Sprintf("%d ok (%d slow), %d non-2xx, %d dropped", l.ok.Load(), l.slow.Load(), l.non2xx.Load(), l.dropped.Load())
}

// TestRollout checks issue 14's zero-downtime restarts as an operator
// sees them: with slow requests (2 s) in flight through the router, three
// deploys of a 2-worker app, of a 1-worker app and of a 1-worker port:
// app (command change, env change, `ehecoatl restart`) answer every
// request with 2xx and drop no connection, and each deploy ends with the
// new version answering.
// A broken new version of the 2-worker app (exits at start; health
// answers 500) is not switched to: the old instance keeps serving with no
// error, and apply exits 1 naming the instance and its last log line; an
// apply of the previous manifest then serves the old version on both
// workers (the instance left drained is rolled again).
func TestRollout(t *testing.T) {
	r := bootRouted(t, "/srv/testdata/rollout")
	const m = "/srv/m/tenants/roll.yaml"
	version := func(t *testing.T, host string) string {
		code, body, err := r.fetch(host, "/")
		if err != nil || code != 200 {
			t.Fatalf("%s: %d %v", host, code, err)
		}
		i := strings.LastIndex(body, "version ")
		return strings.TrimSpace(body[i+len("version "):])
	}
	for _, h := range []string{"multi.test", "single.test", "port.test"} {
		if v := version(t, h); v != "+v1" {
			t.Fatalf("%s answers version %q, want +v1", h, v)
		}
	}

	loops := map[string]*loop{"multi": r.startLoop("multi.test", 4, 4), "single": r.startLoop("single.test", 4, 4),
		"port": r.startLoop("port.test", 4, 4)}
	time.Sleep(3 * time.Second) // slow requests are in flight on every worker
	// The units of each one-worker app's second slot.
	slot := map[string]string{
		"single": "ehecoatl-roll-single-next.service ehecoatl-roll-single-next.socket",
		"port":   "ehecoatl-roll-port-next.service ehecoatl-roll-port-next-bridge.service ehecoatl-roll-port-next.socket",
	}
	for _, app := range []string{"multi", "single", "port"} {
		host := app + ".test"
		for _, d := range []struct {
			name, sed, want string // sed edits the app's block of the manifest
		}{
			{"command change", `s|^\(    command: .*\)\]$|\1, --version, c2]|`, "c2+v1"},
			{"env change", `s|HELLO_VERSION: v1|HELLO_VERSION: v2|`, "c2+v2"},
			{"ehecoatl restart", "", "c2+v2"},
		} {
			start := time.Now()
			var out string
			if d.sed == "" {
				out = r.run("ehecoatl", "restart", "roll/"+app)
			} else {
				r.sh(fmt.Sprintf(`sed -i '/^  %s:/,/^  [a-z]*:$/{%s}' %s`, app, d.sed, m))
				out = r.run("ehecoatl", "apply", "/srv/m")
			}
			t.Logf("%s %s took %s:\n%s", app, d.name, time.Since(start).Round(time.Millisecond), out)
			if v := version(t, host); v != d.want {
				t.Errorf("%s after %s answers version %q, want %q", app, d.name, v, d.want)
			}
			if units := slot[app]; units != "" {
				// The second slot served during the deploy and is
				// stopped at its end, the record empty again.
				if st := strings.Fields(r.sh("systemctl is-active " + units + " || true")); slices.ContainsFunc(st, func(s string) bool { return s != "inactive" }) {
					t.Errorf("after %s the second slot is %q, want inactive", d.name, st)
				}
				if out, _, code := r.try("test", "-e", "/run/ehecoatl/.draining"); code == 0 {
					t.Errorf("the drain record is left after %s: %s", d.name, out)
				}
			}
			time.Sleep(2500 * time.Millisecond) // new slow requests in flight
		}
	}
	for name, l := range loops {
		l.end()
		t.Logf("%s during 3 deploys: %s", name, l)
		if l.non2xx.Load() != 0 || l.dropped.Load() != 0 || l.slow.Load() < 20 {
			t.Errorf("%s: %s; first failures:\n%s", name, l, strings.Join(l.last, "\n"))
		}
	}

	// The second slot is the same DynamicUser as the app's own service,
	// so the state directory they share stays theirs (systemd would
	// otherwise chown it to whichever started last).
	r.sh("systemctl start ehecoatl-roll-single-next.service")
	uids := strings.Fields(r.sh(`for u in ehecoatl-roll-single ehecoatl-roll-single-next; do stat -c %u /proc/$(systemctl show -P MainPID $u.service); done; stat -L -c %u /var/lib/ehecoatl-roll-single`))
	r.sh("systemctl stop ehecoatl-roll-single-next.service ehecoatl-roll-single-next.socket")
	if len(uids) != 3 || uids[0] != uids[1] || uids[1] != uids[2] {
		t.Errorf("uids of the app, its second slot and their state directory: %q, want one", uids)
	}

	// Broken new versions: the old one keeps serving. The 2-worker app
	// has its second worker; the 1-worker apps their second slot (the
	// port: app's with its own bridge), which fails its check and is
	// never switched to.
	for _, c := range []struct {
		name, app, unit, flag, why string
	}{
		{"exits at start", "multi", "ehecoatl-roll-multi@1.service", "--crash-at-start", "hello: crashing at start as asked"},
		{"health answers 500", "multi", "ehecoatl-roll-multi@1.service", "--fail-health", "GET /healthz: 500"},
		{"single exits at start", "single", "ehecoatl-roll-single-next.service", "--crash-at-start", "hello: crashing at start as asked"},
		{"single health answers 500", "single", "ehecoatl-roll-single-next.service", "--fail-health", "GET /healthz: 500"},
		{"port exits at start", "port", "ehecoatl-roll-port-next.service", "--crash-at-start", "hello: crashing at start as asked"},
		{"port health answers 500", "port", "ehecoatl-roll-port-next.service", "--fail-health", "GET /healthz: 500"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := r.on(t)
			host := c.app + ".test"
			l := r.startLoop(host, 4, 2)
			time.Sleep(2500 * time.Millisecond)
			good := r.sh("cat " + m)
			edit := fmt.Sprintf(`s|c2\]|c3, %s]|`, c.flag)
			r.sh(fmt.Sprintf(`sed -i '/^  %s:/,/^  [a-z]*:$/{%s}' %s`, c.app, edit, m))
			start := time.Now()
			out, errOut, code := r.try("ehecoatl", "apply", "/srv/m")
			t.Logf("apply of a broken version: exit %d after %s\nstdout:\n%s\nstderr:\n%s", code, time.Since(start).Round(time.Millisecond), out, errOut)
			if code != 1 || !strings.Contains(errOut, c.unit) || !strings.Contains(errOut, c.why) {
				t.Errorf("apply exit %d, want 1 naming %s and %q", code, c.unit, c.why)
			}
			if keeps := "ehecoatl-roll-" + c.app + ".service keeps serving the previous version"; slot[c.app] != "" && !strings.Contains(errOut, keeps) {
				t.Errorf("apply's error does not say %q", keeps)
			}
			time.Sleep(2 * time.Second)
			for i := 0; i < 20; i++ {
				if v := version(t, host); v != "c2+v2" {
					t.Fatalf("after the broken apply %s answers version %q, want the old c2+v2", c.app, v)
				}
			}
			l.end()
			t.Logf("%s during the broken deploy: %s", c.app, l)
			if l.non2xx.Load() != 0 || l.dropped.Load() != 0 || l.ok.Load() == 0 {
				t.Errorf("%s: %s; first failures:\n%s", c.app, l, strings.Join(l.last, "\n"))
			}
			if units := slot[c.app]; units != "" {
				if st := strings.TrimSpace(r.sh("systemctl is-active " + units + " || true")); slices.ContainsFunc(strings.Fields(st), func(s string) bool { return s == "active" || s == "activating" }) {
					t.Errorf("after the broken apply the second slot is %q, want it stopped", st)
				}
			}
			// The previous manifest serves on both workers again: the
			// apply rolls the instance the failed one left drained.
			r.sh("cat > " + m + " <<'EOF'\n" + good + "EOF")
			t.Logf("apply of the previous manifest:\n%s", r.run("ehecoatl", "apply", "/srv/m"))
			if out, _, code := r.try("test", "-e", "/run/ehecoatl/.draining"); code == 0 {
				t.Errorf("the drain record is left after a good apply: %s", out)
			}
			pids := map[string]bool{}
			for i := 0; i < 40; i++ {
				code, body, err := r.fetch(host, "/")
				if err != nil || code != 200 || !strings.HasSuffix(strings.TrimSpace(body), "version c2+v2") {
					t.Fatalf("after the previous manifest: %d %q %v", code, body, err)
				}
				pids[strings.Fields(body)[4]] = true
			}
			if want := map[string]int{"multi": 2, "single": 1, "port": 1}[c.app]; len(pids) != want {
				t.Errorf("after the previous manifest %d worker(s) answered, want %d: %v", len(pids), want, pids)
			}
		})
	}
}
