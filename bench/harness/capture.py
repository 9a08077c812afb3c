"""Records the app's real answers for the ceiling server: one per
benchmarked request, with the app's headers and bodies byte for byte, so
the ceiling sends responses of the same size."""

from __future__ import annotations

import json
import os
import shutil
import tempfile

from harness.procs import SuiteError, free_port, request, stop, wait_http_ok
from harness.seed import Dataset, copy_sqlite, start_app

# Set by the server for every answer; the ceiling's own server sets them.
SKIP_HEADERS = {"content-length", "date", "connection", "transfer-encoding", "keep-alive"}
# The body of the suite's writes (bench/lua/post.lua sends the same fields).
SAMPLE_POST = {
    "title": "Bench capture post 1",
    "content": "Measure before you change anything, then measure again afterwards. " * 8,
    "tags": ["bench", "performance"],
    "status": "published",
}


def record(port: int, method: str, path: str, body=None, token=None, expect=200) -> dict:
    status, headers, raw = request(port, method, path, body, token)
    if status != expect:
        raise SuiteError(f"capturing {method} {path}: the app answered {status}, not {expect}")
    return {"status": status, "body": raw.decode("utf-8"),
            "headers": [[k, v] for k, v in headers.items() if k not in SKIP_HEADERS]}


def median_slug(port: int, slugs: list) -> str:
    """The slug whose full post is of median size, among a spread sample."""
    sample = slugs[:: max(1, len(slugs) // 101)]
    sizes = sorted((len(request(port, "GET", f"/api/posts/{s}")[2]), s) for s in sample)
    return sizes[len(sizes) // 2][1]


def capture_routes(release: str, data: Dataset, out_path: str) -> dict:
    """Runs the app on a scratch copy of the SQLite master, records its
    answers into `out_path` (the ceiling's routes file); returns the sizes."""
    scratch = tempfile.mkdtemp(prefix="cb-capture-")
    try:
        db = os.path.join(scratch, "app.db")
        copy_sqlite(data.sqlite_master, db)
        port = free_port()
        env = dict(os.environ, DATABASE_URL=f"sqlite://{db}", APP_LOG="warn")
        app = start_app(release, env, port, os.path.join(scratch, "app.log"))
        try:
            wait_http_ok(port, "/health", app)
            slug = median_slug(port, data.slugs)
            routes = [
                dict(method="GET", path="/health", prefix=False, **record(port, "GET", "/health")),
                dict(method="GET", path="/api/posts", prefix=False,
                     **record(port, "GET", "/api/posts?limit=10")),
                dict(method="GET", path="/api/posts/", prefix=True,
                     **record(port, "GET", f"/api/posts/{slug}")),
                dict(method="POST", path="/api/posts", prefix=False,
                     **record(port, "POST", "/api/posts", SAMPLE_POST, data.token, expect=201)),
            ]
        finally:
            stop(app)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(routes, f, indent=1)
    return {f"{r['method']} {r['path']}": len(r["body"].encode()) for r in routes}
