"""The scenarios, wrk, and one cell: a target started afresh, warmed up,
measured under one scenario (throughput, latency, CPU, memory, log lines)
and stopped."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid

from harness import targets
from collections import Counter

from harness.procs import SuiteError, cpu_seconds, file_size, machine_ticks, rss_kb, scan_log
from harness.stats import parse_wrk

LUA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lua")

SCENARIOS = {
    "S1": "GET /health",
    "S2": "GET /api/posts?limit=10 (cached)",
    "S3": "GET /api/posts/{slug}",
    "S4": "POST /api/posts (bearer)",
    "S5": "90/10 read/write mix",
}


def wrk_command(scenario: str, port: int, data, run: str, opts) -> list:
    """The wrk command line of `scenario` against 127.0.0.1:port."""
    base = f"http://127.0.0.1:{port}"
    cmd = ["wrk", f"-t{opts.threads}", f"-c{opts.connections}", f"-d{opts.seconds}s",
           "--latency", "--timeout", "5s"]
    if scenario == "S1":
        return cmd + [f"{base}/health"]
    if scenario == "S2":
        return cmd + [f"{base}/api/posts?limit=10"]
    if scenario == "S3":
        return cmd + ["-s", os.path.join(LUA, "slugs.lua"), base, "--", data.slugs_file]
    if scenario == "S4":
        return cmd + ["-s", os.path.join(LUA, "post.lua"), base, "--", data.token, run]
    if scenario == "S5":
        return cmd + ["-s", os.path.join(LUA, "mix.lua"), base, "--", data.token, run,
                      data.slugs_file]
    raise SuiteError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")


def run_wrk(cmd: list, seconds: float) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise SuiteError(f"wrk failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-400:]}")
    return done.stdout


def with_seconds(opts, seconds: float):
    """`opts` with another duration (for the warm-up)."""
    copy = type(opts)(**vars(opts))
    copy.seconds = seconds
    return copy


def cell(key: str, scenario: str, paths, data, folder: str, opts, env_extra: dict) -> dict:
    """Measures `scenario` on target `key`, started afresh in `folder`."""
    os.makedirs(folder)
    live = targets.start(key, paths, data, folder, env_extra)
    try:
        run = uuid.uuid4().hex[:8]
        if opts.warmup > 0:
            run_wrk(wrk_command(scenario, live.port, data, run + "w", with_seconds(opts, opts.warmup)),
                    opts.warmup)
        pids = ([live.supervisor] if live.supervisor else []) + live.workers
        logs = live.log_paths()
        t0 = time.monotonic()
        cpu0 = {pid: cpu_seconds(pid) for pid in pids}
        size0 = {path: file_size(path) for path in logs}
        stolen0, all0 = machine_ticks()
        out = run_wrk(wrk_command(scenario, live.port, data, run, opts), opts.seconds)
        stolen1, all1 = machine_ticks()
        t1 = time.monotonic()
        cpu1 = {pid: cpu_seconds(pid) for pid in pids}
        size1 = {path: file_size(path) for path in logs}
        result = parse_wrk(out)
        window = t1 - t0

        def cpu_pct(pid):
            if cpu0.get(pid) is None or cpu1.get(pid) is None:
                return None
            return 100 * (cpu1[pid] - cpu0[pid]) / window

        lines, statuses = 0, Counter()
        for path in logs:
            n, seen = scan_log(path, size0[path], size1[path])
            lines += n
            statuses.update(seen)
        result.update(
            target=key, scenario=scenario, window_s=window,
            steal_pct=100 * (stolen1 - stolen0) / max(1, all1 - all0),
            supervisor_cpu_pct=cpu_pct(live.supervisor) if live.supervisor else None,
            workers_cpu_pct=[cpu_pct(pid) for pid in live.workers],
            log_lines_per_s=lines / window,
            logged_statuses=dict(statuses),
            supervisor_rss_kb=rss_kb(live.supervisor) if live.supervisor else None,
            workers_rss_kb=[rss_kb(pid) for pid in live.workers],
        )
        return result
    finally:
        live.stop()
        shutil.rmtree(folder, ignore_errors=True)
