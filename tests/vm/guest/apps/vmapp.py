"""The Python test app of the VM tier: socket-activated (fd 3, a unix
socket), single-threaded, so a running instance answers with the one task
it has, even when its tenant's slice is at TasksMax.

  GET /              200 "ok TENANT/APP pid N"
  GET /alloc?mb=N    allocates N MiB in 8 MiB steps, touching every page
                     (page by page: MemoryHigh= throttles it)
  GET /alloc?mb=N&populate=1
                     allocates N MiB with one mmap(MAP_POPULATE) (the
                     memory case: over the tenant's MemoryMax the kernel
                     OOM-kills it before it answers)
  GET /bomb          forks until fork() fails (then 20 more tries), the
                     children wait until /release (or 120 s); answers
                     {"forked": n, "refused": k, "errno": "EAGAIN", "s": secs}
  GET /release       lets the children exit
  GET /burn?procs=N  starts N children that spin on the CPU until /unburn
                     (or 120 s); answers at once
  GET /unburn        kills them
"""
import errno
import json
import mmap
import os
import signal
import socket
import sys
import time
import http.server
from urllib.parse import urlparse, parse_qs

# Children are reaped by the kernel: no zombies counting as tasks.
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
burners = []
hoard = []


def arg(q, name, default):
    return int(q.get(name, [default])[0])


release = []


def bomb():
    # Children block on a pipe whose write end only this process keeps:
    # closing it (/release, or the alarm) lets every child exit at once.
    r, w = os.pipe()
    forked, refused, err, t0 = 0, 0, "", time.time()
    while time.time() < t0 + 120 and refused < 20:
        try:
            pid = os.fork()
        except OSError as e:
            refused += 1
            err = errno.errorcode.get(e.errno, str(e.errno))
            time.sleep(0.05)
            continue
        if pid == 0:
            os.close(w)
            os.read(r, 1)
            os._exit(0)
        forked += 1
    os.close(r)
    release.append(w)
    signal.signal(signal.SIGALRM, lambda *_: do_release())
    signal.alarm(120)
    return {"forked": forked, "refused": refused, "errno": err, "s": round(time.time() - t0, 2)}


def do_release():
    n = len(release)
    while release:
        os.close(release.pop())
    return {"released": n}


def burn(procs):
    for _ in range(procs):
        pid = os.fork()
        if pid == 0:
            end = time.time() + 120
            while time.time() < end:
                pass
            os._exit(0)
        burners.append(pid)
    return {"burners": list(burners)}


def unburn():
    for pid in burners:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    n = len(burners)
    burners.clear()
    return {"killed": n}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        u = urlparse(self.path)
        q = parse_qs(u.query)
        if u.path == "/alloc" and arg(q, "populate", 0):
            # One mmap(MAP_POPULATE): the kernel charges every page within
            # one system call, so MemoryHigh='s throttling (applied when
            # returning to user space) cannot slow it down before MemoryMax.
            n = arg(q, "mb", 200) << 20
            hoard.append(mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | mmap.MAP_POPULATE))
            body = {"allocated_mb": n >> 20}
        elif u.path == "/alloc":
            for _ in range(arg(q, "mb", 200) // 8):
                hoard.append(b"\x01" * (8 << 20))  # written: resident
            body = {"allocated_mb": 8 * len(hoard)}
        elif u.path == "/bomb":
            body = bomb()
        elif u.path == "/release":
            body = do_release()
        elif u.path == "/burn":
            body = burn(arg(q, "procs", 2))
        elif u.path == "/unburn":
            body = unburn()
        else:
            body = "ok %s/%s pid %d\n" % (os.environ.get("EHECOATL_TENANT"), os.environ.get("EHECOATL_APP"), os.getpid())
        b = (body if isinstance(body, str) else json.dumps(body) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def log_message(self, fmt, *args):
        print("vmapp: " + (fmt % args), file=sys.stderr, flush=True)


class Server(http.server.HTTPServer):
    address_family = socket.AF_UNIX

    def server_bind(self):
        pass

    def server_activate(self):
        pass


srv = Server("", Handler, False)
srv.socket = socket.socket(fileno=3)
srv.serve_forever()
