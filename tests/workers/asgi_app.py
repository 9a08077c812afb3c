"""A minimal ASGI app for the uvicorn recipe (docs/workers.md), no framework.

uvicorn serves it on the inherited socket given by `--fd 3`. Routes: GET / ->
{"pid", "instance", "server"}; GET /health; GET /slow?ms=N (an in-flight
request for drain tests); anything else -> 404.
"""

import asyncio
import json
import os
from urllib.parse import parse_qs


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    path = scope["path"]
    if path == "/":
        status, body = 200, {
            "pid": os.getpid(),
            "instance": os.environ.get("CORRAL_INSTANCE", ""),
            "server": "uvicorn",
        }
    elif path == "/health":
        status, body = 200, {"status": "pass"}
    elif path == "/slow":
        ms = int(parse_qs(scope["query_string"].decode()).get("ms", ["0"])[0])
        print(f"slow request started pid={os.getpid()}", flush=True)
        await asyncio.sleep(ms / 1000)
        status, body = 200, {"pid": os.getpid(), "slept_ms": ms}
    else:
        status, body = 404, {"error": "not found"}
    data = json.dumps(body).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(data)).encode()),
        ],
    })
    await send({"type": "http.response.body", "body": data})


async def lifespan(receive, send):
    """Nothing to set up or tear down; answering keeps uvicorn's log clean."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
