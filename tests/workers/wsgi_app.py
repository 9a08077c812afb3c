"""A minimal WSGI app for the gunicorn recipe (docs/workers.md).

gunicorn takes its sockets from LISTEN_FDS itself, so the app knows nothing of
corral. Routes: GET / -> {"pid", "instance", "server"}; GET /health;
GET /slow?ms=N (an in-flight request for drain tests); anything else -> 404.
"""

import json
import os
import time
from urllib.parse import parse_qs


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/":
        status, body = "200 OK", {
            "pid": os.getpid(),
            "instance": os.environ.get("CORRAL_INSTANCE", ""),
            "server": "gunicorn",
        }
    elif path == "/health":
        status, body = "200 OK", {"status": "pass"}
    elif path == "/slow":
        ms = int(parse_qs(environ.get("QUERY_STRING", "")).get("ms", ["0"])[0])
        print(f"slow request started pid={os.getpid()}", flush=True)
        time.sleep(ms / 1000)
        status, body = "200 OK", {"pid": os.getpid(), "slept_ms": ms}
    else:
        status, body = "404 Not Found", {"error": "not found"}
    data = json.dumps(body).encode()
    start_response(status, [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(data))),
    ])
    return [data]
