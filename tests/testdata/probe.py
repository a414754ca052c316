"""A socket-activated app that reports what its sandbox lets it do.

Each GET answers a JSON object: the uid it runs as, and for each probe
"ok" or the error it got. Requests are also logged to stderr (the journal).
"""
import json
import os
import resource
import socket
import socketserver
import subprocess
import sys
import http.server


class ProbeOK(Exception):
    pass


def print_ok(v):
    """Makes probe() answer "ok: v", for probes whose value matters."""
    raise ProbeOK(v)


def probe(fn):
    try:
        fn()
        return "ok"
    except ProbeOK as e:
        return "ok: %s" % e
    except Exception as e:  # the error is the answer
        return "%s: %s" % (type(e).__name__, e)


def unix_connect(path):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.settimeout(2)
        s.connect(path)
        return s.recv(64).decode(errors="replace")
    finally:
        s.close()


def listing(path):
    return " ".join(sorted(os.listdir(path)))


def shm_write():
    with open("/dev/shm/from-" + os.environ.get("EHECOATL_TENANT", "x"), "w") as f:
        f.write("planted")


def write_same(path):
    """Writes a kernel tunable's own value back (harmless where it is
    allowed), opened without O_TRUNC, so that the permission check comes
    before the read-only mount's: a refusal is PermissionError whether or
    not the file system is mounted read-only."""
    with open(path, "rb") as f:
        v = f.read()
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, v)
    finally:
        os.close(fd)


def read_only_mount(path):
    """The options of the mount at path (the last one listed there)."""
    opts = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == path:
                opts = fields[5]
    if opts is None:
        raise FileNotFoundError("no mount at " + path)
    print_ok("ro" if "ro" in opts.split(",") else "rw")


def klogctl_read():
    """syslog(2) SYSLOG_ACTION_READ_ALL: the kernel log."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(4096)
    if libc.klogctl(3, buf, len(buf)) < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def sethostname():
    socket.sethostname(socket.gethostname())


def foreign_processes():
    """The processes in /proc that run as another user (ProtectProc=)."""
    me, others = os.getuid(), []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.stat("/proc/" + pid).st_uid != me:
                    others.append(pid)
            except FileNotFoundError:
                pass
    print_ok(len(others))


def root_links():
    """What /bin, /sbin, /lib and /lib64 are in the app's root."""
    out = []
    for d in ("bin", "sbin", "lib", "lib64"):
        p = "/" + d
        out.append(p + (" -> " + os.readlink(p) if os.path.islink(p) else " dir"))
    print_ok(", ".join(out))


def run_sh():
    """A program in /bin, run by its /bin path: fork and exec."""
    r = subprocess.run(["/bin/sh", "-c", "echo sh-ok"], capture_output=True, timeout=10)
    print_ok(r.stdout.decode().strip() + (" " + r.stderr.decode().strip() if r.stderr else ""))


def mount_points():
    """The mount points of the app's namespace (docs/DESIGN.md "Sandbox
    start cost": each costs the start about a millisecond)."""
    with open("/proc/self/mountinfo") as f:
        print_ok(" ".join(l.split()[4] for l in f))


def facts():
    state = os.environ.get("STATE_DIRECTORY", "")
    visits = ""
    if state:
        with open(os.path.join(state, "visits"), "a") as f:
            f.write("x")
        with open(os.path.join(state, "visits")) as f:
            visits = f.read()
    return {
        "uid": os.getuid(),
        "pid": os.getpid(),
        "env": os.environ.get("PROBE_ENV", ""),
        # What the launcher (ehecoatl-exec) passed on: the words after the
        # script, no EHECOATL_ARGV_* left, the open-file limit systemd set.
        "argv": sys.argv[1:],
        "argv_vars": sorted(k for k in os.environ if k.startswith("EHECOATL_ARGV")),
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "visits": len(visits),
        "write_usr": probe(lambda: open("/usr/ehecoatl-probe", "w").close()),
        "write_etc": probe(lambda: open("/etc/ehecoatl-probe", "w").close()),
        "read_shadow": probe(lambda: open("/etc/shadow").read()),
        "list_run_ehecoatl": probe(lambda: os.listdir("/run/ehecoatl")),
        "list_secrets": probe(lambda: os.listdir("/etc/ehecoatl/secrets")),
        "connect_tcp": probe(lambda: socket.create_connection(("127.0.0.1", 5432), timeout=2).close()),
        "connect_other_app": probe(lambda: socket.socket(socket.AF_UNIX).connect("/run/ehecoatl/acme/web.sock")),
        "read_generated_units": probe(lambda: os.listdir("/run/systemd/generator")),
        "connect_system_bus": probe(lambda: socket.socket(socket.AF_UNIX).connect("/run/dbus/system_bus_socket")),
        # The deny-by-default file system (docs/MANIFEST.md "What an app
        # sees"): a listing is "ok" followed by what it saw.
        "list_root": probe(lambda: print_ok(listing("/"))),
        "root_links": probe(root_links),
        "run_sh": probe(run_sh),
        "mount_points": probe(mount_points),
        "list_srv": probe(lambda: print_ok(listing("/srv"))),
        "read_other_tenant": probe(lambda: open("/srv/isolation/beta/code/secret.txt").read()),
        "read_own_code": probe(lambda: print_ok(open("/srv/isolation/alpha/code/page.txt").read().strip())),
        "read_dpkg_log": probe(lambda: open("/var/log/dpkg.log").read(1)),
        "list_var_lib": probe(lambda: print_ok(listing("/var/lib"))),
        "list_opt": probe(lambda: print_ok(listing("/opt"))),
        "list_home": probe(lambda: print_ok(listing("/home"))),
        "list_run": probe(lambda: print_ok(listing("/run"))),
        "list_run_lock": probe(lambda: listing("/run/lock")),
        "list_dev_shm": probe(lambda: print_ok(listing("/dev/shm"))),
        "write_dev_shm": probe(shm_write),
        "list_manifests": probe(lambda: listing("/etc/ehecoatl")),
        "connect_pg": probe(lambda: print_ok(unix_connect("/run/postgresql/.s.PGSQL.5432"))),
        "connect_pg_var_run": probe(lambda: unix_connect("/var/run/postgresql/.s.PGSQL.5432")),
        "connect_journal": probe(lambda: unix_connect("/run/systemd/journal/socket")),
        "connect_journal_stdout": probe(lambda: unix_connect("/run/systemd/journal/stdout")),
        "connect_notify": probe(lambda: unix_connect("/run/systemd/notify")),
        "connect_abstract": probe(lambda: print_ok(unix_connect("\0ehecoatl-test-beta"))),
        "socketpair": probe(lambda: socket.socketpair()),
        "foreign_processes": probe(foreign_processes),
        # Kernel tunables (templates/hardening.conf: no capabilities, its
        # own user, a user namespace).
        "write_proc_sys": probe(lambda: write_same("/proc/sys/vm/swappiness")),
        "write_proc_sys_net": probe(lambda: write_same("/proc/sys/net/ipv4/ip_forward")),
        "write_sys": probe(lambda: write_same("/sys/module/printk/parameters/time")),
        "mount_proc_sys": probe(lambda: read_only_mount("/proc/sys")),
        "mount_sys": probe(lambda: read_only_mount("/sys")),
        "read_proc_kmsg": probe(lambda: open("/proc/kmsg", "rb").read(1)),
        "read_kernel_log": probe(klogctl_read),
        "sethostname": probe(sethostname),
        "read_proc1_root": probe(lambda: os.listdir("/proc/1/root")),
        "read_cert_key": probe(lambda: open("/etc/ehecoatl/certs/probe/site.key").read(1)),
        "list_certs": probe(lambda: os.listdir("/etc/ehecoatl/certs")),
        "list_router_state": probe(lambda: os.listdir("/var/lib/ehecoatl-router")),
    }


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        f = facts()
        f["forwarded_proto"] = self.headers.get("X-Forwarded-Proto", "")
        body = json.dumps(f).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        # Unix-socket peers have no address; the journal adds the rest.
        print("probe: " + (fmt % args), file=sys.stderr, flush=True)


class Server(http.server.HTTPServer):
    # Serve the socket systemd passed (fd 3) without creating one: the
    # sandbox may allow AF_UNIX only (egress: none) or no AF_UNIX at all
    # (an egress list).
    def __init__(self, handler):
        socketserver.BaseServer.__init__(self, ("", 0), handler)
        self.socket = socket.socket(fileno=3)
        self.server_name, self.server_port = "probe", 0


server = Server(Handler)
print("probe: ready", file=sys.stderr, flush=True)
server.serve_forever()
