"""A socket-activated app of the VM tier's egress and bind cases: it tries
what it is asked and answers "ok" or the error it got.

GET /connect/ADDR/PORT  a TCP connect (2 s)
GET /listen/ADDR/PORT/S listen on ADDR:PORT for S seconds, answering
                        "app-listener" to every connection (in the
                        background: the answer says whether the listen worked)
GET /unix               create a unix socket
"""
import socket
import socketserver
import threading
import time
import http.server


def listen_for(s, seconds):
    s.settimeout(0.2)
    end = time.time() + seconds
    while time.time() < end:
        try:
            c, _ = s.accept()
            c.sendall(b"app-listener\n")
            c.close()
        except socket.timeout:
            pass
    s.close()


def attempt(path):
    parts = path.strip("/").split("/")
    try:
        if parts[0] == "connect":
            socket.create_connection((parts[1], int(parts[2])), timeout=2).close()
        elif parts[0] == "listen":
            s = socket.socket(socket.AF_INET6 if ":" in parts[1] else socket.AF_INET)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((parts[1], int(parts[2])))
            s.listen(8)
            threading.Thread(target=listen_for, args=(s, float(parts[3])), daemon=True).start()
        elif parts[0] == "unix":
            socket.socket(socket.AF_UNIX).close()
        else:
            return "unknown probe"
        return "ok"
    except Exception as e:  # the error is the answer
        return "%s: %s" % (type(e).__name__, e)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = attempt(self.path).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


class Server(http.server.HTTPServer):
    # Serve fd 3 without creating a socket: an egress list allows no
    # AF_UNIX, egress none no AF_INET.
    def __init__(self):
        socketserver.BaseServer.__init__(self, ("", 0), Handler)
        self.socket = socket.socket(fileno=3)
        self.server_name, self.server_port = "netprobe", 0


Server().serve_forever()
