"""What the suite measures besides throughput: `corral run` to the first
200, supervisor and worker memory idle, `kill -9` of a worker to serving
again, and corral's CPU at 20,000 log lines/s (bench/log_throughput.py)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from harness import targets
from harness.procs import SuiteError, request, rss_kb
from harness.seed import copy_sqlite
from harness.stats import median_of
from kill_to_serving import Fleet, start_supervisor, stop_supervisor

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def corral_on_copy(paths, data, folder: str, instances: str):
    """`corral run` on a fresh copy of the SQLite data; (supervisor, fleet, app, t0)."""
    os.makedirs(folder)
    db = os.path.join(folder, "app.db")
    copy_sqlite(data.sqlite_master, db)
    app = os.path.join(paths.release, "app")
    eco = targets.write_ecosystem(folder, app, instances, {"DATABASE_URL": f"sqlite://{db}"})
    t0 = time.monotonic()
    sup = start_supervisor(os.path.join(paths.release, "corral"), eco,
                           os.path.join(folder, "corral.log"))
    return sup, Fleet(), app, t0


def start_to_first_200(paths, data, work: str, runs: int) -> dict:
    """`corral run` until GET /health answers 200, and memory 2 s later."""
    samples, online, idle = [], [], []
    for i in range(runs):
        folder = os.path.join(work, f"start-{i}")
        sup, fleet, app, t0 = corral_on_copy(paths, data, folder, "max")
        try:
            deadline = t0 + 60
            while fleet.port is None:
                fleet.apply(sup.next_event(deadline))
            # The socket is bound: this request waits in its queue until a
            # worker accepts and answers it.
            status, _, _ = request(fleet.port, "GET", "/health", timeout=60)
            first = time.monotonic()
            if status != 200:
                raise SuiteError(f"the first GET /health after `corral run` answered {status}")
            samples.append((first - t0) * 1000)
            while not fleet.all_online:
                ev = sup.next_event(deadline)
                fleet.apply(ev)
                if fleet.all_online:
                    online.append((ev.t - t0) * 1000)
            time.sleep(2)
            fleet.drain(sup)
            idle.append({"supervisor_kb": rss_kb(sup.proc.pid),
                         "workers_kb": [rss_kb(p) for p in sorted(fleet.online_at)]})
        finally:
            stop_supervisor(sup, set(fleet.seen), app)
            shutil.rmtree(folder, ignore_errors=True)
    return {"first_200_ms": samples, "all_online_ms": online, "idle_rss": idle,
            "first_200_median_ms": median_of(samples),
            "all_online_median_ms": median_of(online)}


def kill_to_serving(paths, data, work: str, runs: int, settle: float = 1.5) -> dict:
    """`kill -9` of the one worker of `instances = 1`, then GET /health at
    once: it waits in the shared socket's queue until the replacement
    answers. Also when corral logged the replacement spawned and online."""
    folder = os.path.join(work, "kill")
    sup, fleet, app, t0 = corral_on_copy(paths, data, folder, "1")
    samples = []
    try:
        deadline = t0 + 60
        while not fleet.all_online:
            fleet.apply(sup.next_event(deadline))
        for _ in range(runs):
            fleet.drain(sup)
            (victim, since), = fleet.online_at.items()
            time.sleep(max(0.0, since + settle - time.monotonic()))
            before = set(fleet.seen)
            t0 = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            status, _, _ = request(fleet.port, "GET", "/health", timeout=30)
            serving = time.monotonic() - t0
            if status != 200:
                raise SuiteError(f"GET /health after the kill answered {status}")
            marks = {"serving_ms": serving * 1000}
            deadline = time.monotonic() + 30
            while "online_ms" not in marks:
                ev = sup.next_event(deadline)
                fleet.apply(ev)
                msg, pid = ev.fields.get("message"), ev.fields.get("pid")
                if msg == "worker spawned" and pid not in before:
                    marks["spawned_ms"] = (ev.t - t0) * 1000
                elif msg == "worker online" and pid not in before:
                    marks["online_ms"] = (ev.t - t0) * 1000
            samples.append(marks)
    finally:
        stop_supervisor(sup, set(fleet.seen), app)
        shutil.rmtree(folder, ignore_errors=True)
    return {"samples": samples,
            **{f"{k}_median": median_of([s.get(k) for s in samples])
               for k in ("spawned_ms", "online_ms", "serving_ms")},
            "serving_max": max(s["serving_ms"] for s in samples)}


def log_throughput(paths, seconds: float) -> dict | None:
    """bench/log_throughput.py, one write per line at 20,000 lines/s."""
    worker = os.path.join(paths.release, "test-worker")
    if not os.access(worker, os.X_OK):
        print(f"log throughput skipped: {worker} is missing "
              "(cargo build --release -p corral-e2e --bin test-worker)", file=sys.stderr)
        return None
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        done = subprocess.run(
            [sys.executable, os.path.join(BENCH, "log_throughput.py"), "--only", "each",
             "--rate", "20000", "--seconds", str(seconds), "--json", out.name,
             "--corral", os.path.join(paths.release, "corral"), "--worker", worker],
            capture_output=True, text=True)
        if done.returncode != 0:
            raise SuiteError(f"bench/log_throughput.py failed: {done.stderr.strip()[-400:]}")
        each = json.load(open(out.name, encoding="utf-8"))["each"]
    return {k: each[k] for k in ("lines_per_s", "supervisor_cpu_pct", "supervisor_wakeups_per_s")}
