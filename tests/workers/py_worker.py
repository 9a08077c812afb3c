#!/usr/bin/env python3
"""A minimal worker in Python 3, standard library only.

It exists to prove that the supervisor's start protocol is language-neutral:
any program that takes its listening socket from fd 3 (sd_listen_fds(3):
LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES), says READY=1 on NOTIFY_SOCKET
(sd_notify(3)) and drains on SIGTERM runs under corral unchanged.

Routes: GET / -> {"pid", "instance", "lang": "python"}; GET /info -> {"pid",
"listen_pid", "listen_fds", "listen_fdnames", "fds"}; GET /slow?ms=N (for
drain tests); GET /health; anything else -> 404.
"""

import json
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FIRST_FD = 3


def open_fds():
    """Open fds and what they point to, by fd. os.listdir closes its directory
    fd before returning, so the fd that listed /proc/self/fd drops out when
    its link can no longer be read."""
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            fds[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
    return fds


class Handler(BaseHTTPRequestHandler):
    """Answers the two routes with JSON, one request per connection."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):
        pid = os.getpid()
        path = self.path.split("?", 1)[0]
        if path == "/":
            self.reply(200, {"pid": pid, "instance": os.environ.get("CORRAL_INSTANCE", ""),
                             "lang": "python"})
        elif path == "/info":
            self.reply(200, {
                "pid": pid,
                "listen_pid": os.environ.get("LISTEN_PID"),
                "listen_fds": os.environ.get("LISTEN_FDS"),
                "listen_fdnames": os.environ.get("LISTEN_FDNAMES"),
                "fds": sorted(open_fds()),
                "fd_targets": {str(fd): target for fd, target in open_fds().items()},
            })
        elif path == "/slow":
            # For drain tests: an in-flight request that SIGTERM must not cut.
            query = dict(p.split("=", 1) for p in self.path.partition("?")[2].split("&") if "=" in p)
            ms = int(query.get("ms", "0"))
            time.sleep(ms / 1000)
            self.reply(200, {"pid": pid, "slept_ms": ms})
        elif path == "/health":
            self.reply(200, {"status": "pass"})
        else:
            self.reply(404, {"error": "not found"})

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        # One line per request on stdout, instead of the default to stderr.
        print(f"py-worker pid={os.getpid()} {format % args}", flush=True)


class Server(ThreadingHTTPServer):
    """Serves on an inherited, already listening socket: no bind, no listen
    (a second listen() would change the backlog the supervisor chose), and
    in-flight request threads are joined on close so a drain loses nothing."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, sock):
        super().__init__(sock.getsockname()[:2], Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock


def notify(message):
    """Sends one sd_notify datagram; an '@' name is a Linux abstract socket."""
    target = os.environ.get("NOTIFY_SOCKET")
    if not target:
        return
    if target.startswith("@"):
        target = "\0" + target[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.sendto(message.encode(), target)
    except OSError as e:
        print(f"py-worker: notify {message!r} failed: {e}", file=sys.stderr, flush=True)


def main():
    pid = os.getpid()
    if os.environ.get("LISTEN_PID") != str(pid):
        print(f"py-worker: LISTEN_PID={os.environ.get('LISTEN_PID')} is not our pid {pid}",
              file=sys.stderr, flush=True)
        sys.exit(2)
    try:
        count = int(os.environ.get("LISTEN_FDS", "0"))
    except ValueError:
        count = 0
    if count < 1:
        print("py-worker: no LISTEN_FDS", file=sys.stderr, flush=True)
        sys.exit(2)

    for fd in range(FIRST_FD, FIRST_FD + count):
        os.set_inheritable(fd, False)  # a child we might start must not hold them
    sock = socket.socket(fileno=FIRST_FD)
    server = Server(sock)

    def on_term(signum, frame):
        # shutdown() waits for serve_forever to return, so not from this thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    print(f"py-worker started pid={pid} instance={os.environ.get('CORRAL_INSTANCE', '')}", flush=True)
    notify("READY=1\nSTATUS=serving")
    server.serve_forever(poll_interval=0.05)
    notify("STOPPING=1")
    server.server_close()  # closes our copy of fd 3, joins in-flight requests
    print(f"py-worker draining done pid={pid}", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
