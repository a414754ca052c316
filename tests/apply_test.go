package tests

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestApply walks the life of a host: first apply, no-op re-apply, a
// one-app change, an invalid directory, a removed tenant and purge. The
// steps share one booted systemd because each builds on the last.
func TestApply(t *testing.T) {
	h := boot(t)
	h.sh("mkdir -p /srv/m && cp -r /srv/examples/tenants /srv/examples/kits /srv/m/ && cp /srv/testdata/probe/tenants/probe.yaml /srv/m/tenants/")

	out := h.run("ehecoatl", "apply", "/srv/m")
	t.Logf("first apply:\n%s", out)
	sockets := strings.Fields(h.sh("systemctl list-units --plain --no-legend --all 'ehecoatl-*.socket' | awk '{print $1}'"))
	if len(sockets) < 4 {
		t.Fatalf("expected a socket per example app, got %v", sockets)
	}

	t.Run("the systemd generator wrote what ehecoatl generate writes", func(t *testing.T) {
		h := h.on(t)
		// Only ehecoatl's files: other generators write into the same dir.
		out, errOut, code := h.try("sh", "-c", `set -e
rm -rf /tmp/g /tmp/sys && ehecoatl generate /etc/ehecoatl /tmp/g >/dev/null
mkdir /tmp/sys && cd /run/systemd/generator && cp -a ehecoatl* /tmp/sys/ && mkdir /tmp/sys/sockets.target.wants && cp -a sockets.target.wants/ehecoatl* /tmp/sys/sockets.target.wants/
diff -r --no-dereference /tmp/g /tmp/sys`)
		if code != 0 {
			t.Errorf("generator output differs from ehecoatl generate:\n%s%s", out, errOut)
		}
	})

	t.Run("every socket listens", func(t *testing.T) {
		h := h.on(t)
		for _, s := range sockets {
			if st := h.prop(s, "SubState"); st != "listening" {
				t.Errorf("%s: SubState=%s, want listening", s, st)
			}
		}
	})

	t.Run("socket activation starts the app", func(t *testing.T) {
		h := h.on(t)
		if st := h.prop("ehecoatl-probe-web.service", "ActiveState"); st != "inactive" {
			t.Fatalf("probe app is %s before any request, want inactive", st)
		}
		// Sockets are under ehecoatl.slice, so listening starts no tenant
		// slice: each slice start walks its started siblings, a cost
		// quadratic in the tenants (docs/DESIGN.md "Apply at scale").
		if st := h.prop("ehecoatl-probe.slice", "ActiveState"); st != "inactive" {
			t.Errorf("probe's slice is %s before any request, want inactive", st)
		}
		for _, s := range sockets {
			if sl := h.prop(s, "Slice"); sl != "ehecoatl.slice" {
				t.Errorf("%s: Slice=%s, want ehecoatl.slice", s, sl)
			}
		}
		code, body := h.get("/run/ehecoatl/probe/web.sock", "probe.example.test", "/")
		if code != 200 {
			t.Fatalf("GET through the app socket: %d %s", code, body)
		}
		if st := h.prop("ehecoatl-probe-web.service", "ActiveState"); st != "active" {
			t.Fatalf("probe app is %s after a request, want active", st)
		}
		if st := h.prop("ehecoatl-probe.slice", "ActiveState"); st != "active" {
			t.Errorf("probe's slice is %s with its app running, want active", st)
		}
	})

	t.Run("the app is sandboxed", func(t *testing.T) {
		h := h.on(t)
		_, body := h.get("/run/ehecoatl/probe/web.sock", "probe.example.test", "/")
		var f map[string]any
		if err := json.Unmarshal([]byte(body), &f); err != nil {
			t.Fatalf("probe answer: %v: %s", err, body)
		}
		uid := int(f["uid"].(float64))
		if uid < 61184 || uid > 65519 {
			t.Errorf("app uid %d is outside systemd's dynamic range 61184-65519", uid)
		}
		if _, _, code := h.try("grep", "-q", ":"+strconv.Itoa(uid)+":", "/etc/passwd"); code == 0 {
			t.Errorf("app uid %d has an entry in /etc/passwd", uid)
		}
		for probe, want := range map[string]string{
			"write_usr":   "Read-only file system",
			"write_etc":   "Read-only file system",
			"read_shadow": "PermissionError",
			// Not in the app's root at all (docs/MANIFEST.md "What an app sees").
			"list_run_ehecoatl": "FileNotFoundError",
			"list_secrets":      "FileNotFoundError",
			"connect_tcp":       "Address family not supported", // RestrictAddressFamilies=AF_UNIX, before PrivateNetwork= is even reached
			"connect_other_app": "Error",
			// Other tenants' env and commands: in the generated units and
			// behind systemd's D-Bus properties.
			"read_generated_units": "FileNotFoundError",
			"connect_system_bus":   "Error",
		} {
			if got, _ := f[probe].(string); !strings.Contains(got, want) {
				t.Errorf("probe %s: got %q, want an error containing %q", probe, got, want)
			}
		}
		if s := h.prop("ehecoatl-probe-web.service", "Slice"); s != "ehecoatl-probe.slice" {
			t.Errorf("Slice=%s, want ehecoatl-probe.slice", s)
		}
		if cg := h.prop("ehecoatl-probe-web.service", "ControlGroup"); !strings.Contains(cg, "/ehecoatl.slice/ehecoatl-probe.slice/") {
			t.Errorf("ControlGroup=%s is not below ehecoatl.slice/ehecoatl-probe.slice", cg)
		}
	})

	t.Run("journal by tenant field", func(t *testing.T) {
		h := h.on(t)
		h.waitFor("the probe's log line in the journal", 10*time.Second, func() bool {
			out, _, _ := h.try("journalctl", "--no-pager", "-o", "cat", "EHECOATL_TENANT=probe")
			return strings.Contains(out, "probe: ready")
		})
	})

	t.Run("second apply changes nothing", func(t *testing.T) {
		h := h.on(t)
		pid := h.prop("ehecoatl-probe-web.service", "MainPID")
		enter := h.prop("ehecoatl-probe-web.service", "ActiveEnterTimestampMonotonic")
		restarts := h.prop("ehecoatl-probe-web.service", "NRestarts")
		reloads := h.reloads()
		installedJobs := h.managerInt("NInstalledJobs")
		out := h.run("ehecoatl", "apply", "/srv/m")
		if !strings.Contains(out, "nothing changed") {
			t.Errorf("second apply output does not say nothing changed:\n%s", out)
		}
		if n := h.reloads(); n != reloads {
			t.Errorf("second apply reloaded systemd (%d -> %d reloads)", reloads, n)
		}
		if n := h.managerInt("NInstalledJobs"); n != installedJobs {
			t.Errorf("second apply ran %d systemd jobs, want 0", n-installedJobs)
		}
		if p := h.prop("ehecoatl-probe-web.service", "MainPID"); p != pid {
			t.Errorf("probe MainPID %s -> %s", pid, p)
		}
		if e := h.prop("ehecoatl-probe-web.service", "ActiveEnterTimestampMonotonic"); e != enter {
			t.Errorf("probe ActiveEnterTimestamp changed")
		}
		if r := h.prop("ehecoatl-probe-web.service", "NRestarts"); r != restarts {
			t.Errorf("probe NRestarts %s -> %s", restarts, r)
		}
	})

	t.Run("changing one app restarts only that app", func(t *testing.T) {
		h := h.on(t)
		// Wake every app so each has a PID to keep.
		running := map[string]string{}
		for _, s := range sockets {
			// The app service shares the socket's name, also for port apps
			// whose socket triggers the bridge.
			svc := strings.TrimSuffix(s, ".socket") + ".service"
			h.try("curl", "-s", "--max-time", "20", "--unix-socket", listenPath(h.prop(s, "Listen")), "http://x/")
			if pid := h.prop(svc, "MainPID"); pid != "0" {
				running[svc] = pid
			}
		}
		if len(running) < 2 {
			t.Fatalf("expected several running apps to compare, got %v", running)
		}
		// A value systemd would mangle if it were not escaped: quotes,
		// $, a backslash, %. Env lives in a root-only EnvironmentFile=,
		// so changing it needs a restart but no daemon-reload.
		const value = `two "q" 'x' $HOME ${PATH} \n 100% %i`
		h.sh(`sed -i 's/PROBE_ENV: one/PROBE_ENV: "two \\"q\\" '"'"'x'"'"' $HOME ${PATH} \\\\n 100% %i"/' /srv/m/tenants/probe.yaml`)
		reloads := h.reloads()
		out := h.run("ehecoatl", "apply", "/srv/m")
		t.Logf("apply after env change:\n%s", out)
		if n := h.reloads(); n != reloads {
			t.Errorf("an env change reloaded systemd (%d reloads)", n-reloads)
		}
		_, body := h.get("/run/ehecoatl/probe/web.sock", "probe.example.test", "/")
		var f map[string]any
		if err := json.Unmarshal([]byte(body), &f); err != nil || f["env"] != value {
			t.Errorf("probe sees env %q, want %q (%v)", f["env"], value, err)
		}
		if mode := h.sh("stat -c %a /etc/ehecoatl/env/probe/web.env"); strings.TrimSpace(mode) != "600" {
			t.Errorf("env file mode %s, want 600", mode)
		}
		for svc, pid := range running {
			now := h.prop(svc, "MainPID")
			if svc == "ehecoatl-probe-web.service" {
				if now == pid {
					t.Errorf("%s kept PID %s after its env changed", svc, pid)
				}
			} else if now != pid {
				t.Errorf("%s restarted (PID %s -> %s) though only the probe changed", svc, pid, now)
			}
		}
	})

	t.Run("an argument change restarts the app without a daemon-reload", func(t *testing.T) {
		h := h.on(t)
		h.get("/run/ehecoatl/probe/web.sock", "probe.example.test", "/")
		pid := h.prop("ehecoatl-probe-web.service", "MainPID")
		// Words systemd would take apart in ExecStart=: they reach the
		// app through the env file's EHECOATL_ARGS, which systemd splits
		// for "$EHECOATL_ARGS" in ExecStart=, as written.
		words := []string{"two words", `say "hi"`, "it's", "$HOME", "${PATH}", "100%", "%i", `C:\dir\`, `\'`, ";", "", "  ", "café ü", "--flag=a b"}
		var yaml []string
		for _, w := range words {
			b, _ := json.Marshal(w)
			yaml = append(yaml, string(b))
		}
		// Written with a quoted here-document: the words hold quotes.
		manifest := regexp.MustCompile(`(?m)^(\s*)command: .*$`).ReplaceAllLiteralString(h.run("cat", "/srv/m/tenants/probe.yaml"),
			"    command: [/usr/bin/python3, /srv/testdata/probe.py, "+strings.Join(yaml, ", ")+"]")
		h.sh("cat > /srv/m/tenants/probe.yaml <<'EOF'\n" + manifest + "EOF")
		if out := h.run("ehecoatl", "plan", "/srv/m"); !strings.Contains(out, "~ app probe/web: command\n") || !strings.Contains(out, "unit files: 0 added, 0 changed, 0 removed") {
			t.Errorf("plan of a command change:\n%s", out)
		}
		reloads := h.reloads()
		out := h.run("ehecoatl", "apply", "/srv/m")
		t.Logf("apply after a command change:\n%s", out)
		if n := h.reloads(); n != reloads {
			t.Errorf("a command change reloaded systemd (%d reloads)", n-reloads)
		}
		now := h.prop("ehecoatl-probe-web.service", "MainPID")
		if now == pid || now == "0" {
			t.Errorf("probe MainPID %s -> %s: the command change did not restart it", pid, now)
		}
		_, body := h.get("/run/ehecoatl/probe/web.sock", "probe.example.test", "/")
		var f struct {
			PID      int      `json:"pid"`
			Argv     []string `json:"argv"`
			ArgvVars []string `json:"argv_vars"`
			NOFILE   int64    `json:"nofile"`
		}
		if err := json.Unmarshal([]byte(body), &f); err != nil {
			t.Fatalf("probe: %v: %s", err, body)
		}
		if !slices.Equal(f.Argv, words) || len(f.ArgvVars) != 0 {
			t.Errorf("probe argv %q, EHECOATL_ARGV variables %q; want %q and none", f.Argv, f.ArgvVars, words)
		}
		// systemd's main process is the app.
		if strconv.Itoa(f.PID) != h.prop("ehecoatl-probe-web.service", "MainPID") {
			t.Errorf("probe PID %d, MainPID %s", f.PID, h.prop("ehecoatl-probe-web.service", "MainPID"))
		}
		if want := h.propInt("ehecoatl-probe-web.service", "LimitNOFILESoft"); f.NOFILE != want {
			t.Errorf("probe's soft open-file limit %d, the unit's %d", f.NOFILE, want)
		}
		if got := h.prop("ehecoatl-probe-web.service", "ExecStart"); !strings.Contains(got, "path=/usr/bin/python3 ; argv[]=/usr/bin/python3 $EHECOATL_ARGS ;") {
			t.Errorf("ExecStart %s, want the program and $EHECOATL_ARGS", got)
		}
	})

	// The program is in the unit (no launcher costs each start an exec):
	// a new program path is a changed unit, so it reloads, and the app
	// runs it.
	t.Run("a program change reloads and restarts the app", func(t *testing.T) {
		h := h.on(t)
		h.sh(`sed -i 's#command: \[/usr/bin/python3, #command: [/usr/bin/python3.11, #' /srv/m/tenants/probe.yaml`)
		if out := h.run("ehecoatl", "plan", "/srv/m"); !strings.Contains(out, "~ app probe/web: command\n") || !strings.Contains(out, "unit files: 0 added, 2 changed, 0 removed") { // the service and its second slot
			t.Errorf("plan of a program change:\n%s", out)
		}
		reloads := h.reloads()
		h.run("ehecoatl", "apply", "/srv/m")
		if n := h.reloads() - reloads; n != 1 {
			t.Errorf("a program change made %d daemon-reloads, want 1", n)
		}
		if got := h.prop("ehecoatl-probe-web.service", "ExecStart"); !strings.Contains(got, "path=/usr/bin/python3.11 ;") {
			t.Errorf("ExecStart %s after the program change", got)
		}
		if code, body := h.get("/run/ehecoatl/probe/web.sock", "probe.example.test", "/"); code != 200 {
			t.Errorf("GET after the program change: %d %s", code, body)
		}
	})

	t.Run("invalid directory changes nothing", func(t *testing.T) {
		h := h.on(t)
		h.sh("rm -rf /srv/bad && cp -r /srv/m /srv/bad && printf 'tenant: broken\napps:\n  web:\n    comand: [/bin/true]\n' > /srv/bad/tenants/broken.yaml && sed -i 's/PROBE_ENV: .*/PROBE_ENV: three/' /srv/bad/tenants/probe.yaml")
		before := h.sh("cd /etc/ehecoatl && find . -type f -print0 | sort -z | xargs -0 sha256sum; systemctl list-units --plain --no-legend --all 'ehecoatl*' | awk '{print $1, $3, $4}'")
		pid := h.prop("ehecoatl-probe-web.service", "MainPID")
		out, errOut, code := h.try("ehecoatl", "apply", "/srv/bad")
		if code != 1 {
			t.Fatalf("apply of an invalid dir exited %d, want 1\n%s%s", code, out, errOut)
		}
		if !strings.Contains(errOut, "tenants/broken.yaml:4:5") {
			t.Errorf("error output lacks file:line:col of the unknown key:\n%s", errOut)
		}
		after := h.sh("cd /etc/ehecoatl && find . -type f -print0 | sort -z | xargs -0 sha256sum; systemctl list-units --plain --no-legend --all 'ehecoatl*' | awk '{print $1, $3, $4}'")
		if before != after {
			t.Errorf("invalid apply changed the host:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		if p := h.prop("ehecoatl-probe-web.service", "MainPID"); p != pid {
			t.Errorf("invalid apply restarted the probe (%s -> %s)", pid, p)
		}
	})

	t.Run("status agrees with systemctl", func(t *testing.T) {
		h := h.on(t)
		rows := h.statusJSON()
		if len(rows) == 0 {
			t.Fatal("status --json printed no apps")
		}
		for _, r := range rows {
			for _, u := range r["units"].([]any) {
				um := u.(map[string]any)
				name := um["name"].(string)
				if got, want := um["active_state"], h.prop(name, "ActiveState"); got != want {
					t.Errorf("status says %s is %v, systemctl says %s", name, got, want)
				}
			}
		}
		h.run("ehecoatl", "stop", "probe/web")
		for _, r := range h.statusJSON("probe") {
			if r["app"] == "web" && r["state"] != "stopped" {
				t.Errorf("after stop, status says probe/web is %v", r["state"])
			}
		}
		if st := h.prop("ehecoatl-probe-web.socket", "ActiveState"); st != "inactive" {
			t.Errorf("after stop the socket is %s", st)
		}
		h.run("ehecoatl", "start", "probe/web")
		if st := h.prop("ehecoatl-probe-web.service", "ActiveState"); st != "active" {
			t.Errorf("after start the app is %s", st)
		}
	})

	t.Run("logs", func(t *testing.T) {
		h := h.on(t)
		h.get("/run/ehecoatl/probe/web.sock", "probe.example.test", "/logs-test")
		var out string
		h.waitFor("the request's log line", 10*time.Second, func() bool {
			out = h.run("ehecoatl", "logs", "probe", "-n", "5")
			return strings.Contains(out, "/logs-test")
		})
		if n := len(strings.Split(strings.TrimSpace(out), "\n")); n > 6 {
			t.Errorf("-n 5 printed %d lines", n)
		}
	})

	t.Run("stopping a tenant's slice stops its sockets too", func(t *testing.T) {
		h := h.on(t)
		h.get("/run/ehecoatl/probe/web.sock", "probe.example.test", "/")
		h.run("systemctl", "stop", "ehecoatl-probe.slice")
		// The socket is not in the slice; its PartOf= carries the stop,
		// so the next request does not start the tenant again.
		for _, u := range []string{"ehecoatl-probe-web.service", "ehecoatl-probe-web.socket", "ehecoatl-probe.slice"} {
			if st := h.prop(u, "ActiveState"); st != "inactive" {
				t.Errorf("%s is %s after its tenant's slice was stopped", u, st)
			}
		}
		if _, _, code := h.try("test", "-e", "/run/ehecoatl/probe/web.sock"); code == 0 {
			t.Errorf("the probe's socket file is still there after its slice was stopped")
		}
		// Other tenants keep listening.
		for _, s := range sockets {
			if strings.HasPrefix(s, "ehecoatl-probe-") {
				continue
			}
			if st := h.prop(s, "ActiveState"); st != "active" {
				t.Errorf("%s: ActiveState=%s after another tenant's slice stopped, want active", s, st)
			}
		}
		out := h.run("ehecoatl", "apply", "/srv/m")
		if st := h.prop("ehecoatl-probe-web.socket", "SubState"); st != "listening" {
			t.Fatalf("apply did not start the stopped tenant's socket again (SubState=%s):\n%s", st, out)
		}
	})

	t.Run("removing a tenant keeps its state until purge", func(t *testing.T) {
		h := h.on(t)
		h.get("/run/ehecoatl/probe/web.sock", "probe.example.test", "/")
		h.run("test", "-d", "/var/lib/private/ehecoatl-probe-web")
		h.run("rm", "/srv/m/tenants/probe.yaml")
		out := h.run("ehecoatl", "apply", "/srv/m")
		t.Logf("apply after removing probe:\n%s", out)
		for _, u := range []string{"ehecoatl-probe-web.service", "ehecoatl-probe-web.socket", "ehecoatl-probe.slice"} {
			if st := h.prop(u, "ActiveState"); st != "inactive" {
				t.Errorf("%s is %s after its tenant was removed", u, st)
			}
			// systemd loads a slice without a unit file (as "loaded").
			if ls := h.prop(u, "LoadState"); ls != "not-found" && !strings.HasSuffix(u, ".slice") {
				t.Errorf("%s LoadState=%s, want not-found (unit file gone)", u, ls)
			}
		}
		visits := h.run("cat", "/var/lib/private/ehecoatl-probe-web/visits")
		if len(visits) == 0 {
			t.Errorf("state directory of the removed tenant lost its data")
		}
		h.run("ehecoatl", "purge", "--yes", "probe")
		if _, _, code := h.try("test", "-e", "/var/lib/private/ehecoatl-probe-web"); code == 0 {
			t.Errorf("purge left /var/lib/private/ehecoatl-probe-web")
		}
	})
}

// listenPath extracts the path from a socket's Listen= property
// ("/run/ehecoatl/acme/web.sock (Stream)").
func listenPath(listen string) string {
	if i := strings.IndexByte(listen, ' '); i >= 0 {
		return listen[:i]
	}
	return listen
}

// managerInt reads a numeric property of the systemd manager.
func (h *host) managerInt(name string) int64 {
	h.t.Helper()
	v := strings.TrimSpace(h.run("systemctl", "show", "--value", "-p", name))
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		h.t.Fatalf("manager %s=%q: not a number", name, v)
	}
	return n
}
