#!/usr/bin/env python3
"""The benchmark suite of issue 9: the app's hot paths against a ceiling,
against itself without corral, and against PM2 + Express, measured in one
interleaved run. Run it through bench/suite.sh, which installs wrk and the
Node packages and builds the release binaries first.

Scenarios (wrk, -t1 -c64 by default): S1 GET /health, S2 GET
/api/posts?limit=10 (cached), S3 GET /api/posts/{slug} (every seeded slug
in turn), S4 POST /api/posts with a bearer token (unique titles), S5 a
90/10 read/write mix. Targets: (a) ceiling, (b) app alone, (c) app under
corral (instances = "max", each worker pinned to a CPU of its own), (c-free)
the same with the workers not pinned, (c-nolog) the same with the access log off,
(c-pg) the same on PostgreSQL + Redis, (d) PM2 cluster x2 + Express 4 +
better-sqlite3. Every round runs each scenario on each target (the target
order rotated per round), each cell on a freshly started target with a
fresh copy of the seeded 1,000 published posts, a warm-up, then the
measured window. Medians over the rounds; ratios (c)/(a), (c)/(b), (c)/(d).

Also: `corral run` to the first 200, supervisor and worker memory,
`kill -9` of a worker to serving again, corral's CPU at 20,000 log
lines/s, and with --profile a perf profile of one worker of (c) per
scenario. Prints the tables, writes them into docs/benchmarks.md (unless
--no-doc) and the raw cells into --json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from harness import extras, report, targets
from harness.profile import profile
from harness.capture import capture_routes
from harness.load import SCENARIOS, cell
from harness.procs import SuiteError
from harness.seed import pg_drop, seed_postgres, seed_sqlite
from harness.stats import median_of, rotated, summarize

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "benchmarks.md")


def arguments() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="rounds; medians over them [3]")
    ap.add_argument("--seconds", type=int, default=10, help="measured window per cell [10]")
    ap.add_argument("--warmup", type=int, default=2, help="unmeasured load before it [2]")
    ap.add_argument("--connections", type=int, default=64, help="wrk -c [64]")
    ap.add_argument("--threads", type=int, default=1, help="wrk -t [1]")
    ap.add_argument("--targets", default="a,b,c,c-free,c-nolog,c-pg,d",
                    help="[a,b,c,c-free,c-nolog,c-pg,d]")
    ap.add_argument("--scenarios", default="S1,S2,S3,S4,S5", help="[S1,S2,S3,S4,S5]")
    ap.add_argument("--posts", type=int, default=1000, help="published posts seeded [1000]")
    ap.add_argument("--nolog-env", default="APP_ACCESS_LOG=off",
                    help="env that turns the app's access log off, for c-nolog [APP_ACCESS_LOG=off]")
    ap.add_argument("--database-url", default=os.environ.get(
        "TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"),
        help="a PostgreSQL database to connect to for creating the suite's own [$TEST_DATABASE_URL]")
    ap.add_argument("--redis-url", default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379"),
                    help="Redis for c-pg [$TEST_REDIS_URL]")
    ap.add_argument("--max-steal", type=float, default=2.0,
                    help="measure a cell again when the hypervisor stole more than this %% of "
                         "the CPU time in its window [2]")
    ap.add_argument("--steal-retries", type=int, default=2,
                    help="at most this many more attempts per cell [2]")
    ap.add_argument("--no-extras", action="store_true",
                    help="skip start-up, kill -9 and log-throughput measurements")
    ap.add_argument("--start-runs", type=int, default=5, help="`corral run` to first 200 runs [5]")
    ap.add_argument("--kill-runs", type=int, default=10, help="kill -9 runs [10]")
    ap.add_argument("--log-seconds", type=float, default=10, help="log throughput window [10]")
    ap.add_argument("--profile", action="store_true", help="perf-profile one worker of (c) on S1-S4")
    ap.add_argument("--profile-seconds", type=float, default=5, help="perf window [5]")
    ap.add_argument("--no-doc", action="store_true", help="do not write docs/benchmarks.md")
    ap.add_argument("--json", default=os.path.join(ROOT, "target", "bench", "results.json"),
                    help="raw results [target/bench/results.json]")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--from-json", metavar="FILE",
                    help="measure nothing: print and write the tables of an earlier --json file")
    return ap.parse_args()


def machine() -> dict:
    def run(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
        except OSError:
            return "?"
    model = "?"
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    commit = run("git", "-C", ROOT, "rev-parse", "--short", "HEAD")
    dirty = run("git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no")
    return {"nproc": run("nproc"), "cpu": model, "kernel": platform.release(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
            "rustc": run("rustc", "-V"), "node": run("node", "-v"),
            "wrk": run("wrk", "-v").splitlines()[0] if run("wrk", "-v") else "?",
            "commit": commit + (" (with uncommitted changes)" if dirty else ""),
            "load_at_start": os.getloadavg()}


def republish(opts) -> int:
    """The tables of an earlier run, from its --json file."""
    with open(opts.from_json, encoding="utf-8") as f:
        results = json.load(f)
    saved = argparse.Namespace(**results["options"])
    saved.no_doc, saved.json = opts.no_doc, opts.json
    keys = [k for k in saved.targets.split(",")
            if any(c["target"] == k for c in results["cells"])]
    profiles = {tuple(name.rsplit("-", 1)): p for name, p in results.get("profiles", {}).items()}
    publish(results, keys, saved, profiles)
    return 0


def main() -> int:
    opts = arguments()
    if opts.from_json:
        return republish(opts)
    keys = opts.targets.split(",")
    scenarios = opts.scenarios.split(",")
    for k in keys:
        if k not in targets.LABELS:
            raise SuiteError(f"unknown target {k!r}; known: {', '.join(targets.LABELS)}")
    for s in scenarios:
        if s not in SCENARIOS:
            raise SuiteError(f"unknown scenario {s!r}; known: {', '.join(SCENARIOS)}")
    release = os.path.join(ROOT, "target", "release")
    paths = targets.Paths(release, os.path.join(ROOT, "target", "bench", "express"), "")
    for program in ("app", "corral", "ceiling"):
        if not os.access(os.path.join(release, program), os.X_OK):
            raise SuiteError(f"target/release/{program} is missing: run bench/suite.sh, which builds it")
    if "d" in keys and not os.path.isdir(os.path.join(paths.express, "node_modules")):
        raise SuiteError("the Express baseline is not installed: run bench/suite.sh, which installs it")
    nolog_key, _, nolog_value = opts.nolog_env.partition("=")
    env_for = {"c-nolog": {nolog_key: nolog_value}, "c-pg": {"REDIS_URL": opts.redis_url}}

    def on_term(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_term)

    info = machine()
    work = tempfile.mkdtemp(prefix="cb-")
    results: dict = {"machine": info, "options": vars(opts), "cells": [], "notes": []}
    pg = None
    try:
        print(f"seeding {opts.posts} published posts (SQLite) in {work}", flush=True)
        sqlite = seed_sqlite(release, work, opts.posts)
        paths.routes = os.path.join(work, "routes.json")
        results["response_bytes"] = capture_routes(release, sqlite, paths.routes)
        if "d" in keys:
            subprocess.run(["node", "import.js", sqlite.sqlite_master,
                            os.path.join(work, "express-master.db")],
                           cwd=paths.express, check=True, stdout=subprocess.DEVNULL)
        if "c-pg" in keys:
            print("seeding PostgreSQL", flush=True)
            pg = seed_postgres(release, work, opts.posts, opts.database_url)
        if "c-nolog" in keys:
            probe = os.path.join(work, "nolog-probe")
            os.makedirs(probe)
            live = targets.start("c-nolog", paths, sqlite, probe, env_for["c-nolog"])
            try:
                off = targets.access_log_is_off(live)
            finally:
                live.stop()
            if not off:
                note = (f"(c-nolog) skipped: with {opts.nolog_env} the app still writes its access "
                        "log (this build has no such setting yet)")
                print(note, flush=True)
                results["notes"].append(note)
                keys.remove("c-nolog")

        for r in range(opts.rounds):
            order = rotated(keys, r)
            for s in scenarios:
                for k in order:
                    c = unstolen_cell(k, s, paths, pg if k == "c-pg" else sqlite,
                                      os.path.join(work, f"r{r}-{s}-{k}"), opts, env_for.get(k, {}))
                    c["round"] = r
                    results["cells"].append(c)
                    print(f"[round {r + 1}/{opts.rounds}] {s} {k:8} {c['rps']:>10,.0f} req/s  "
                          f"p50 {c['p50_ms']:.2f} ms  p99 {c['p99_ms']:.2f} ms  "
                          f"errors {c['non2xx'] + c['socket_errors']}  "
                          f"steal {c['steal_pct']:.1f}%", flush=True)

        if not opts.no_extras and "c" in keys:
            print("measuring start-up, kill -9 and log throughput", flush=True)
            results["extras"] = {
                "start": extras.start_to_first_200(paths, sqlite, work, opts.start_runs),
                "kill": extras.kill_to_serving(paths, sqlite, work, opts.kill_runs),
                "logs": extras.log_throughput(paths, opts.log_seconds),
            }
        profiles = {}
        if opts.profile:
            for s in [s for s in scenarios if s in ("S1", "S2", "S3", "S4")]:
                print(f"profiling (c) on {s}", flush=True)
                profiles[("c", s)] = profile("c", s, paths, sqlite, work, opts, {})
            results["profiles"] = {f"{k}-{s}": p for (k, s), p in profiles.items()}
        info["load_at_end"] = os.getloadavg()
        publish(results, keys, opts, profiles)
        return 0
    except SuiteError as err:
        print(f"suite: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("suite: interrupted; stopping what it started", file=sys.stderr)
        return 130
    finally:
        if pg is not None:
            pg_drop(pg.pg_admin_url, pg.pg_template)
        if opts.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def unstolen_cell(key: str, scenario: str, paths, data, folder: str, opts, env: dict) -> dict:
    """Measures a cell, again (afresh) while the hypervisor stole more than
    --max-steal % of the machine's CPU time in its window, at most
    --steal-retries more times; keeps the least-stolen attempt. On this
    shared virtual machine, the app held under S4 served 3,952 requests/s in
    a window with 10% stolen and 6,945 when started the same way a minute
    before."""
    attempts = []
    for attempt in range(1 + opts.steal_retries):
        attempts.append(cell(key, scenario, paths, data, f"{folder}-{attempt}", opts, env))
        stolen = attempts[-1]["steal_pct"]
        if stolen <= opts.max_steal:
            break
        then = "measuring again" if attempt < opts.steal_retries else "keeping the least stolen"
        print(f"  {scenario} {key}: the hypervisor stole {stolen:.1f}% of the CPU time; {then}",
              flush=True)
    kept = min(attempts, key=lambda c: c["steal_pct"])
    kept["attempts"] = len(attempts)
    return kept


def steal_note(cells: list, opts) -> str:
    """How much CPU time the hypervisor took during the kept windows."""
    if not cells or "steal_pct" not in cells[0]:
        return ""
    again = sum(1 for c in cells if c.get("attempts", 1) > 1)
    stolen = sorted(c["steal_pct"] for c in cells)
    return (f"CPU time stolen by the hypervisor (`/proc/stat`) during the measured windows: "
            f"median {median_of(stolen):.1f}%, most {stolen[-1]:.1f}%; {again} of {len(cells)} "
            f"cells were measured again because more than {opts.max_steal:g}% was stolen "
            f"(at most {opts.steal_retries} more times, keeping the least stolen).")


def publish(results: dict, keys: list, opts, profiles: dict) -> None:
    """Prints the tables, writes the JSON and the doc's generated blocks."""
    summary: dict = {}
    for c in results["cells"]:
        summary.setdefault(c["scenario"], {}).setdefault(c["target"], []).append(c)
    summary = {s: {k: summarize(v) for k, v in per.items()} for s, per in summary.items()}
    results["summary"] = summary
    info = results["machine"]
    command = results.setdefault("command", os.environ.get(
        "BENCH_COMMAND", "python3 bench/suite.py " + " ".join(sys.argv[1:])))
    text = "\n\n".join(filter(None, [
        f"Measured {time.strftime('%Y-%m-%d')} on commit `{info['commit']}` with `{command}`: "
        f"{opts.rounds} rounds, wrk -t{opts.threads} -c{opts.connections}, {opts.seconds:g} s "
        f"measured after {opts.warmup:g} s of warm-up per cell, {opts.posts} published posts. "
        f"Machine: `nproc` = {info['nproc']}, {info['cpu']}, {info['memory_gib']} GiB, Linux "
        f"{info['kernel']}; {info['rustc']}, Node {info['node']}, {info['wrk'].split(' Copyright')[0]}. Load average "
        f"(1 min) {info['load_at_start'][0]:.1f} at the start, {info['load_at_end'][0]:.1f} at the "
        "end: the load generator shares the cores with the servers; a load well above "
        "`nproc` means other work shared the machine too.",
        steal_note(results["cells"], opts),
        "\n".join(f"- {n}" for n in results["notes"]),
        report.main_tables(summary, keys, opts.rounds),
        report.processes_table(results["cells"], keys),
        report.extras_table(results.get("extras", {})),
        "Response sizes recorded for the ceiling (bytes of body): " + ", ".join(
            f"{k} {v:,}" for k, v in results["response_bytes"].items()) + ".",
    ]))
    print("\n" + text)
    os.makedirs(os.path.dirname(opts.json), exist_ok=True)
    with open(opts.json, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1, default=str)
    print(f"\nraw results: {opts.json}")
    if profiles:
        print("\n" + report.profile_section(profiles))
    if opts.no_doc:
        return
    with open(DOC, encoding="utf-8") as f:
        doc = f.read()
    doc = report.replace_block(doc, "results", text)
    if profiles:
        doc = report.replace_block(doc, "profile", report.profile_section(profiles))
    with open(DOC, "w", encoding="utf-8") as f:
        f.write(doc)
    print(f"wrote {DOC}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SuiteError as err:
        print(f"suite: {err}", file=sys.stderr)
        sys.exit(1)
