#!/usr/bin/env python3
"""Throughput, latency, start-up time and memory of the app under corral.

Seeds a fresh SQLite database, runs `corral run` with the app in cluster
mode (one worker per CPU) on a free loopback port, and drives it with wrk
(Debian package `wrk`) for each read endpoint. Prints one table; every
process it started is stopped on exit, even on Ctrl-C.

Usage: bench/app_throughput.py [--posts N] [--seconds S] [--connections C]
(build first: cargo build --release --workspace).
"""

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def wrk(url, seconds, connections):
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {p: re.search(rf"\s{p}%\s+([\d.]+\w+)", out).group(1) for p in ("50", "99")}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, lat, int(errors.group(1)) if errors else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=int, default=2000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="corral-bench-")
    db = f"sqlite://{work}/app.db"
    env = dict(os.environ, DATABASE_URL=db, APP_LOG="warn")
    subprocess.run([f"{RELEASE}/app", "seed", "--posts", str(args.posts)],
                   env=env, check=True, capture_output=True)
    port = free_port()
    with open(f"{work}/ecosystem.toml", "w") as f:
        f.write(f"""
[[apps]]
name = "api"
command = "{RELEASE}/app"
instances = "max"
listen = ["127.0.0.1:{port}"]
wait_ready = true
kill_timeout = "15s"
[apps.env]
DATABASE_URL = "{db}"
APP_LOG = "warn"
""")
    started = time.monotonic()
    corral = subprocess.Popen(
        [f"{RELEASE}/corral", "run", "ecosystem.toml"], cwd=work,
        env=dict(os.environ, CORRAL_LOG_FORMAT="json"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    online = {}
    try:
        for line in corral.stderr:
            event = json.loads(line)
            if event.get("message") == "worker online":
                online[event["pid"]] = event["timestamp"]
            if event.get("message") == "all apps online":
                break
        ready_ms = (time.monotonic() - started) * 1000
        base = f"http://127.0.0.1:{port}"
        first = json.load(urllib.request.urlopen(f"{base}/api/posts?limit=1"))["data"][0]
        time.sleep(2)
        idle = {"supervisor": rss_kb(corral.pid), "workers": [rss_kb(p) for p in online]}
        rows = []
        for name, path in [("list 10 posts", "/api/posts?limit=10"),
                           ("one post by slug", f"/api/posts/{first['slug']}"),
                           ("tags with counts", "/api/tags"),
                           ("health", "/health")]:
            rps, lat, errors = wrk(base + path, args.seconds, args.connections)
            rows.append((name, rps, lat["50"], lat["99"], errors))
        loaded = [rss_kb(p) for p in online]
        print(f"workers: {len(online)}, posts: {args.posts}, wrk: 2 threads, "
              f"{args.connections} connections, {args.seconds} s each")
        print(f"corral run → every worker online: {ready_ms:.0f} ms")
        print("| endpoint | requests/s | p50 | p99 | non-2xx |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for name, rps, p50, p99, errors in rows:
            print(f"| {name} | {rps:.0f} | {p50} | {p99} | {errors} |")
        print(f"idle RSS kB: supervisor {idle['supervisor']}, workers {idle['workers']}; "
              f"workers after load {loaded}")
    finally:
        corral.send_signal(signal.SIGTERM)
        try:
            corral.wait(timeout=30)
        except subprocess.TimeoutExpired:
            corral.kill()
            corral.wait()


if __name__ == "__main__":
    sys.exit(main())
