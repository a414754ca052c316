"""A socket-activated app that reports what its sandbox lets it do.

Each GET answers a JSON object: the uid it runs as, and for each probe
"ok" or the error it got. Requests are also logged to stderr (the journal).
"""
import json
import os
import socket
import sys
import http.server


def probe(fn):
    try:
        fn()
        return "ok"
    except Exception as e:  # the error is the answer
        return "%s: %s" % (type(e).__name__, e)


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
    }


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps(facts()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        # Unix-socket peers have no address; the journal adds the rest.
        print("probe: " + (fmt % args), file=sys.stderr, flush=True)


class Server(http.server.HTTPServer):
    # The sandbox allows AF_UNIX only (egress: none): even the throwaway
    # socket HTTPServer creates before we swap in fd 3 must be AF_UNIX.
    address_family = socket.AF_UNIX


server = Server("", Handler, bind_and_activate=False)
server.socket = socket.socket(fileno=3)
print("probe: ready", file=sys.stderr, flush=True)
server.serve_forever()
