package tests

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestIsolation attacks tenant beta and the host from tenant alpha's apps
// (tests/testdata/isolation), as the security review of issue 8 did, in a
// booted systemd: what alpha's sandbox must not show or reach. The IP and
// bind rules of egress-list apps are enforced only on cgroup v2 and are
// proven in the VM tier (tests/vm), not here.
func TestIsolation(t *testing.T) {
	h := boot(t)
	// The host: beta's code and a note in /opt and /home, a shared-memory
	// file and a lock of the host's, a host PostgreSQL socket (a stand-in
	// that greets), and beta's abstract socket in the host's namespace.
	h.sh(`set -e
mkdir -p /srv/isolation/alpha/code /srv/isolation/beta/code /opt/other /home/someone
echo alpha-page > /srv/isolation/alpha/code/page.txt
echo beta-secret > /srv/isolation/beta/code/secret.txt
echo x > /opt/other/f; echo x > /home/someone/f
echo host > /dev/shm/host-planted; mkdir -p /run/lock && touch /run/lock/host.lock
mkdir -p /run/postgresql
systemd-run --unit fake-postgres -p Type=exec /usr/bin/python3 -c '
import socket, os
s = socket.socket(socket.AF_UNIX); s.bind("/run/postgresql/.s.PGSQL.5432"); os.chmod("/run/postgresql/.s.PGSQL.5432", 0o777); s.listen(8)
a = socket.socket(socket.AF_UNIX); a.bind("\0ehecoatl-test-beta"); a.listen(8)
import threading
def serve(l, msg):
    while True:
        c, _ = l.accept(); c.sendall(msg); c.close()
threading.Thread(target=serve, args=(a, b"beta-abstract"), daemon=True).start()
serve(s, b"pg-hello")'
for i in $(seq 50); do [ -S /run/postgresql/.s.PGSQL.5432 ] && break; sleep 0.1; done
mkdir -p /srv/m && cp -r /srv/testdata/isolation/tenants /srv/m/`)
	h.run("ehecoatl", "apply", "/srv/m")

	probe := func(t *testing.T, app, domain string) map[string]string {
		t.Helper()
		code, body := h.get("/run/ehecoatl/alpha/"+app+".sock", domain, "/")
		if code != 200 {
			t.Fatalf("GET %s: %d %s", app, code, body)
		}
		var f map[string]any
		if err := json.Unmarshal([]byte(body), &f); err != nil {
			t.Fatalf("probe answer: %v: %s", err, body)
		}
		out := map[string]string{}
		for k, v := range f {
			if s, ok := v.(string); ok {
				out[k] = s
			}
		}
		return out
	}
	// Each want is a substring of the probe's answer; "ok" answers carry
	// what the app saw after "ok: ".
	check := func(t *testing.T, got map[string]string, want map[string]string) {
		t.Helper()
		for k, w := range want {
			if !strings.Contains(got[k], w) {
				t.Errorf("%s: got %q, want it to contain %q", k, got[k], w)
			}
		}
	}

	web := probe(t, "web", "alpha.isolation.test")
	t.Run("the file system is deny-by-default", func(t *testing.T) {
		check(t, web, map[string]string{
			"read_other_tenant": "FileNotFoundError",
			"read_own_code":     "ok: alpha-page",
			"read_dpkg_log":     "FileNotFoundError",
			"list_opt":          "ok: ",
			"list_home":         "ok: ", // the root's empty /home
			"list_var_lib":      "ok: ehecoatl-alpha-web",
			"list_run_lock":     "FileNotFoundError",
			"list_manifests":    "ok",
			"read_shadow":       "PermissionError",
			"foreign_processes": "ok: 0", // a /proc of its own processes
			"read_proc1_root":   "Error",
		})
		for k, leak := range map[string]string{"list_opt": "other", "list_home": "someone", "list_srv": "beta", "list_root": "boot", "list_run": "postgresql", "list_manifests": "tenants"} {
			if strings.Contains(web[k], leak) {
				t.Errorf("%s: %q shows %q", k, web[k], leak)
			}
		}
		if got := web["list_home"]; got != "ok: " {
			t.Errorf("/home shows %q, want it empty", got)
		}
		if got := web["list_var_lib"]; got != "ok: ehecoatl-alpha-web" {
			t.Errorf("/var/lib shows %q, want only the app's own state", got)
		}
	})
	// What the profile leaves to permissions instead of the mounts of
	// ProtectKernelTunables=, ProtectKernelLogs= and ProtectHostname=
	// (templates/hardening.conf says why): the app has no capability and
	// is never root, so it cannot write a kernel tunable (the host's or
	// its own network namespace's) or sysfs, read the kernel log or set
	// the host name. The writes open without O_TRUNC, so the refusal is
	// the permission check, not the read-only mounts, which are there
	// too (ReadOnlyPaths=).
	t.Run("the kernel is out of reach", func(t *testing.T) {
		net := probe(t, "net", "net.alpha.isolation.test")
		for app, got := range map[string]map[string]string{"web": web, "net": net} {
			for _, k := range []string{"write_proc_sys", "write_proc_sys_net", "write_sys", "read_proc_kmsg", "sethostname"} {
				if !strings.HasPrefix(got[k], "PermissionError") {
					t.Errorf("%s: %s: %q, want PermissionError", app, k, got[k])
				}
			}
			if g := got["read_kernel_log"]; !strings.HasPrefix(g, "PermissionError") && !strings.HasPrefix(g, "OSError: [Errno 1]") {
				t.Errorf("%s: read_kernel_log: %q, want EPERM", app, g)
			}
			check(t, got, map[string]string{"mount_proc_sys": "ok: ro", "mount_sys": "ok: ro"})
		}
	})
	t.Run("/dev/shm is the app's own", func(t *testing.T) {
		check(t, web, map[string]string{"write_dev_shm": "ok", "list_dev_shm": "ok: "})
		if strings.Contains(web["list_dev_shm"], "host-planted") {
			t.Errorf("the app sees the host's /dev/shm: %s", web["list_dev_shm"])
		}
		if _, _, code := h.try("test", "-e", "/dev/shm/from-alpha"); code == 0 {
			t.Errorf("a file alpha wrote to its /dev/shm appeared in the host's")
		}
	})
	t.Run("no host socket without connect", func(t *testing.T) {
		check(t, web, map[string]string{
			"connect_pg":             "FileNotFoundError",
			"connect_pg_var_run":     "FileNotFoundError",
			"connect_journal":        "FileNotFoundError",
			"connect_journal_stdout": "FileNotFoundError",
			"connect_notify":         "FileNotFoundError",
			"connect_abstract":       "ConnectionRefusedError", // its own network namespace: beta's name does not exist there
			"socketpair":             "ok",
		})
	})
	t.Run("connect reaches the named socket only", func(t *testing.T) {
		db := probe(t, "db", "db.alpha.isolation.test")
		check(t, db, map[string]string{
			"connect_pg":      "ok: pg-hello",
			"connect_journal": "FileNotFoundError",
			"list_run":        "ok: ",
		})
	})
	t.Run("an egress list gives no unix sockets", func(t *testing.T) {
		net := probe(t, "net", "net.alpha.isolation.test")
		check(t, net, map[string]string{
			// The host's network namespace: beta's abstract socket exists
			// there, but the app cannot create a unix socket at all.
			"connect_abstract": "Address family not supported",
			"socketpair":       "ok",
		})
	})
	t.Run("only root and the router's group reach the app sockets", func(t *testing.T) {
		h := h.on(t)
		const sock = "/run/ehecoatl/alpha/web.sock"
		// The sockets are open to all (no SocketGroup=: systemd forks a
		// helper per socket to set it); the run directory is the wall.
		if got := h.sh("stat -c '%a %U %G' /run/ehecoatl /run/ehecoatl/alpha " + sock); got != "750 root ehecoatl-router\n755 root root\n666 root root\n" {
			t.Errorf("modes of the run directory, a tenant's directory and a socket:\n%s", got)
		}
		connect := `import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1]); print("connected")
except OSError as e:
    print(type(e).__name__, e.errno)`
		for _, c := range []struct{ who, uid, gid, want string }{
			// A local user outside the router's group: EACCES (13) on
			// the directory, before the socket.
			{"nobody", "nobody", "nogroup", "PermissionError 13"},
			{"the router", "ehecoatl-router", "ehecoatl-router", "connected"},
		} {
			out := h.run("setpriv", "--reuid="+c.uid, "--regid="+c.gid, "--clear-groups", "python3", "-c", connect, sock)
			if strings.TrimSpace(out) != c.want {
				t.Errorf("%s connecting to %s: %q, want %q", c.who, sock, out, c.want)
			}
		}
		// The router's user serves through it: a request, not just a connect.
		out := h.run("setpriv", "--reuid=ehecoatl-router", "--regid=ehecoatl-router", "--clear-groups",
			"curl", "-sS", "--max-time", "30", "--unix-socket", sock, "-H", "Host: alpha.isolation.test", "-o", "/dev/null", "-w", "%{http_code}", "http://alpha.isolation.test/")
		if out != "200" {
			t.Errorf("GET as the router's user: %q, want 200", out)
		}
		// And no app sees the run directory at all.
		if got := web["list_run_ehecoatl"]; !strings.Contains(got, "FileNotFoundError") || strings.Contains(web["list_run"], "ehecoatl") {
			t.Errorf("alpha sees the run directory: listing it gave %q, /run holds %q", got, web["list_run"])
		}
	})
	t.Run("the shared root stays empty", func(t *testing.T) {
		if out := h.sh("find /run/ehecoatl-root -mindepth 2 | head"); out != "" {
			t.Errorf("systemd created mount points in the shared sandbox root:\n%s", out)
		}
	})
	t.Run("the starter app of ehecoatl init serves only its page", func(t *testing.T) {
		h := h.on(t)
		h.run("ehecoatl", "init", "starter", "--domain", "starter.isolation.test", "--dir", "/srv/m")
		h.run("ehecoatl", "apply", "/srv/m")
		code, body := h.get("/run/ehecoatl/starter/web.sock", "starter.isolation.test", "/")
		if code != 200 || !strings.Contains(body, "Ehecoatl") {
			t.Errorf("GET /: %d %.200s", code, body)
		}
		for _, p := range []string{"/etc/passwd", "/usr/", "/../../etc/passwd"} {
			if code, body := h.get("/run/ehecoatl/starter/web.sock", "starter.isolation.test", p); code != 404 {
				t.Errorf("GET %s: %d %.200s, want 404", p, code, body)
			}
		}
	})
	t.Run("beta's env is not in alpha's reach", func(t *testing.T) {
		for k, v := range web {
			if strings.Contains(v, "hunter2") {
				t.Errorf("%s shows beta's password: %s", k, v)
			}
		}
	})
}

// TestIsolationRefusesEscapes: manifests that would undo the sandbox are
// refused with file:line:col and change nothing, also when the escape
// hides behind a symlink that only apply (as root, on the host) resolves.
func TestIsolationRefusesEscapes(t *testing.T) {
	h := boot(t)
	h.sh(`set -e
mkdir -p /srv/m/tenants /srv/links
cp /srv/testdata/isolation/tenants/beta.yaml /srv/m/tenants/
ln -s /proc/1/root /srv/links/root
ln -s /var/lib/private /srv/links/state`)
	h.run("ehecoatl", "apply", "/srv/m")
	before := h.sh("readlink /etc/ehecoatl/current")
	for _, c := range []struct{ path, want string }{
		{"/proc/1/root", `tenants/alpha.yaml:6:17 apps.web.read_only[0]: read_only path "/proc/1/root" is outside`},
		{"/proc/self/root", `read_only path "/proc/self/root" is outside`},
		{"/srv/links/root", `read_only path "/srv/links/root" (it resolves to /`},
		{"/srv/links/state/ehecoatl-beta-web", `(it resolves to /var/lib/private/ehecoatl-beta-web on this host) is inside /var/lib/private`},
	} {
		h.sh("cat > /srv/m/tenants/alpha.yaml <<'EOF'\ntenant: alpha\napps:\n  web:\n    command: [/bin/true]\n    listen: activation\n    read_only: [" + c.path + "]\n    domains: [alpha.isolation.test]\nEOF")
		_, errOut, code := h.try("ehecoatl", "apply", "/srv/m")
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("apply with read_only %s: exit %d, stderr:\n%s\nwant %q", c.path, code, errOut, c.want)
		}
		if now := h.sh("readlink /etc/ehecoatl/current"); now != before {
			t.Errorf("a refused apply switched the installed manifests")
		}
	}
}
