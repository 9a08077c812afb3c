#!/usr/bin/env python3
"""Issue 11's benchmark: the app through HAProxy with one, two and three
hosts (deploy/multi-host/cluster.sh: each host a corral with two workers,
sharing a PostgreSQL primary, its streaming replica and Redis).

On a 2-core machine more hosts add no CPU: the point is the shape and the
overhead of the balancer and of more processes, and how many reads the
replica takes. For each host count it starts the cluster, seeds posts
through `app seed` on the primary, then runs with wrk -t1 -c64 through the
balancer:

  R1  GET /api/posts/{slug}, every seeded slug in turn (cached reads)
  R2  GET /api/users/me with a bearer token (a session lookup and the
      user: reads no cache holds)
  M   90/10 read/write mix (bench/lua/mix.lua)

and reports requests/s, p50/p99, errors, and the share of the app's table
scans (index and sequential; the watermark's own query on the content
generation left out) that ran on the replica during the window, read from
both servers' `pg_stat_user_tables` once their sessions had flushed their
counts (an idle session does within 10 s). Writes scan tables too, so under
the mix the share counts them on the primary's side.

    cargo build --release -p app -p corral
    python3 bench/multi_host.py                 # 1, 2, 3 hosts, 10 s per cell
    python3 bench/multi_host.py --hosts 2 --seconds 5 --json /tmp/m.json
    python3 bench/multi_host.py --events        # wrk -c64 through HAProxy for 25 s
                                                # while both hosts are reloaded, then
                                                # host 1 is stopped (SIGTERM) and started
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from harness.procs import SuiteError  # noqa: E402
from harness.seed import seed, write_slugs  # noqa: E402
from harness.stats import parse_wrk  # noqa: E402

SCRIPT = os.path.join(ROOT, "deploy", "multi-host", "cluster.sh")
LUA = os.path.join(HERE, "lua")
# The watermark's query reads content_generation on the primary for every
# batch of requests, reads or not: left out, so the share is the reads'.
SCANS = ("SELECT COALESCE(SUM(COALESCE(idx_scan, 0) + COALESCE(seq_scan, 0)), 0) "
         "FROM pg_stat_user_tables WHERE relname NOT IN ('content_generation', '_sqlx_migrations')")
FLUSH_WAIT = 11  # s: idle sessions flush their statistics within 10 s
SCENARIOS = {
    "R1": "GET /api/posts/{slug} (cached)",
    "R2": "GET /api/users/me, bearer (uncached)",
    "M": "90/10 read/write mix",
}


def cluster(verb: str, folder: str, *args: str, release: str) -> None:
    env = dict(os.environ, CORRAL=os.path.join(release, "corral"), APP=os.path.join(release, "app"))
    done = subprocess.run(["bash", SCRIPT, verb, folder, *args], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SuiteError(f"cluster.sh {verb} failed: {done.stdout[-400:]}{done.stderr[-800:]}")


def scans(url: str) -> int:
    done = subprocess.run(["psql", url, "-Atc", SCANS], capture_output=True, text=True, check=True)
    return int(done.stdout.strip() or 0)


def wrk(scenario: str, lb: str, token: str, slugs: str, seconds: int) -> dict:
    base = f"http://{lb}"
    cmd = ["wrk", "-t1", "-c64", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if scenario == "R1":
        cmd += ["-s", os.path.join(LUA, "slugs.lua"), base, "--", slugs]
    elif scenario == "R2":
        cmd += ["-H", f"Authorization: Bearer {token}", f"{base}/api/users/me"]
    else:
        cmd += ["-s", os.path.join(LUA, "mix.lua"), base, "--", token, uuid.uuid4().hex[:8], slugs]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise SuiteError(f"wrk failed: {done.stderr[-400:]}")
    return parse_wrk(done.stdout)


def measure(hosts: int, opts, release: str, work: str) -> list:
    folder = os.path.join(work, f"cluster-{hosts}")
    cluster("up", folder, "--hosts", str(hosts), release=release)
    try:
        env = dict(line.split("=", 1) for line in open(os.path.join(folder, "cluster.env"))
                   .read().splitlines() if "=" in line)
        token, slugs = seed(release, work, env["PRIMARY_URL"], "postgres", opts.posts)
        slugs_file = write_slugs(work, f"hosts{hosts}", slugs)
        time.sleep(1)
        rows = []
        for scenario in opts.scenarios.split(","):
            wrk(scenario, env["LB"], token, slugs_file, 2)  # warm-up
            time.sleep(FLUSH_WAIT)
            before = (scans(env["PRIMARY_URL"]), scans(env["REPLICA_URL"]))
            result = wrk(scenario, env["LB"], token, slugs_file, opts.seconds)
            time.sleep(FLUSH_WAIT)
            after = (scans(env["PRIMARY_URL"]), scans(env["REPLICA_URL"]))
            primary, replica = after[0] - before[0], after[1] - before[1]
            result.update(hosts=hosts, scenario=scenario, primary_scans=primary,
                          replica_scans=replica,
                          replica_share=replica / (primary + replica) if primary + replica else None)
            print(f"{hosts} host(s) {scenario:3} {result['rps']:>9,.0f} req/s  "
                  f"p50 {result['p50_ms']:.2f} ms  p99 {result['p99_ms']:.2f} ms  "
                  f"errors {result['non2xx'] + result['socket_errors']}  "
                  f"replica share {share(result)}", flush=True)
            rows.append(result)
        return rows
    finally:
        cluster("down", folder, release=release)


def share(row: dict) -> str:
    return "—" if row["replica_share"] is None else f"{row['replica_share'] * 100:.0f}%"


def table(rows: list) -> str:
    out = ["| hosts | scenario | requests/s | p50 / p99 ms | errors | scans on the replica |",
           "| ---: | --- | ---: | --- | ---: | ---: |"]
    for r in rows:
        out.append(f"| {r['hosts']} | {r['scenario']} {SCENARIOS[r['scenario']]} | {r['rps']:,.0f} | "
                   f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f} | {r['non2xx'] + r['socket_errors']} | "
                   f"{share(r)} ({r['replica_scans']:,} of {r['primary_scans'] + r['replica_scans']:,}) |")
    return "\n".join(out)


def events(release: str, work: str) -> None:
    """Two hosts under wrk -t1 -c64 (the first page, 25 s) while
    `cluster.sh deploy` reloads both, then host 1 gets SIGTERM and is
    started again: wrk's counts of non-2xx answers and socket errors."""
    folder = os.path.join(work, "cluster-events")
    cluster("up", folder, "--hosts", "2", release=release)
    try:
        env = dict(line.split("=", 1) for line in open(os.path.join(folder, "cluster.env"))
                   .read().splitlines() if "=" in line)
        cmd = ["wrk", "-t1", "-c64", "-d25s", "--latency", "--timeout", "5s",
               f"http://{env['LB']}/api/posts?limit=5"]
        load = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        time.sleep(2)
        for step in (["deploy"], ["stop-host", "1"], ["start-host", "1"]):
            started = time.monotonic()
            cluster(step[0], folder, *step[1:], release=release)
            print(f"{' '.join(step)}: {time.monotonic() - started:.2f} s", flush=True)
            time.sleep(1)
        out, _ = load.communicate(timeout=60)
        r = parse_wrk(out)
        print(f"under wrk -c64 for 25 s: {r['requests']:,} requests, {r['rps']:,.0f} req/s, "
              f"p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, non-2xx {r['non2xx']}, "
              f"socket errors {r['socket_errors']}")
    finally:
        cluster("down", folder, release=release)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", default="1,2,3", help="host counts [1,2,3]")
    ap.add_argument("--scenarios", default="R1,R2,M", help="[R1,R2,M]")
    ap.add_argument("--seconds", type=int, default=10, help="measured window per cell [10]")
    ap.add_argument("--posts", type=int, default=200, help="published posts seeded [200]")
    ap.add_argument("--json", help="write the rows here")
    ap.add_argument("--events", action="store_true",
                    help="only: a rolling deploy and a host stopped and started under load")
    opts = ap.parse_args()
    release = os.path.join(ROOT, "target", "release")
    for program in ("app", "corral"):
        if not os.access(os.path.join(release, program), os.X_OK):
            raise SuiteError(f"target/release/{program} is missing: cargo build --release -p app -p corral")
    work = tempfile.mkdtemp(prefix="mh-")
    os.chmod(work, 0o755)  # the cluster's PostgreSQL runs as `postgres` inside it
    if opts.events:
        events(release, work)
        return
    rows = []
    for hosts in [int(h) for h in opts.hosts.split(",")]:
        rows += measure(hosts, opts, release, work)
    print()
    print(table(rows))
    if opts.json:
        with open(opts.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
