#!/usr/bin/env python3
"""Log throughput: the lines a second corral carries from its workers into
the log files, and what that costs the supervisor in CPU.

Each phase starts its own `corral run` in a temporary folder (one app, 2
test workers on 127.0.0.1:0, wait_ready = true, logs in the folder), waits
for "all apps online", lets the workers print for a warm-up second, then
measures over a window:

  (a) steady: the workers print access-log lines (about 150 bytes) at a
      fixed total rate, --rate lines/s (default 20000) split over the two
      (test worker switch TW_LOG_RATE), for --seconds (default 10).
      Reported: the supervisor's CPU (utime + stime from /proc/PID/stat, as
      % of one core), the lines written to the out file in the window, and
      after the stop, over the whole run: the lines each worker wrote (they
      number them: highest seq + 1) against the lines found in the file
      (missing, duplicated, out of order), and the lines the supervisor
      says it dropped or lost (today's "log lines could not be written"
      with `lost`, and any event with a `dropped` or `lost` count).
      The workers write their lines in a batch every 10 ms.
  (a') steady, one write per line: the same, but each line is written on
      its own when it is due (TW_LOG_EACH=1), as a server logging each
      request as it ends does, so the supervisor wakes up for a few lines
      at a time instead of 100.
  (b) ceiling: the workers print numbered lines as fast as they can
      (TW_PRINT_LINES, far more than the window can take) for
      --ceiling-seconds (default 10). Reported: lines/s written to the out
      file, the supervisor's CPU, and its CPU per 100,000 lines/s.

Lines in the window are counted after the stop, between the file sizes
taken at the window's start and end, so the benchmark reads nothing while
it measures. The workers' CPU is shown for scale: on 2 cores they compete
with the supervisor, and in the ceiling phase they are what it competes
with.

--perf FILE runs `perf record -g -p SUPERVISOR_PID` over each steady
window (FILE for (a), FILE.each for (a'); read them with
`perf report -i FILE --no-children`); perf's own cost then shows in the CPU
figures.

Every supervisor is stopped at the end of its phase (SIGTERM, then SIGKILL
if it hangs), also on an error, Ctrl-C or SIGTERM to this script; a test
worker still alive after that is killed by pid.

Python 3 standard library only; shares the supervisor plumbing of
kill_to_serving.py. Usage:
    bench/log_throughput.py [--rate 20000] [--seconds 10] [--ceiling-seconds 10]
                            [--only steady|each|ceiling] [--perf FILE] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from kill_to_serving import (
    APP,
    INSTANCES,
    ROOT,
    BenchError,
    Fleet,
    Supervisor,
    start_supervisor,
    stop_supervisor,
    wait_online,
)

CLK_TCK = os.sysconf("SC_CLK_TCK")
WARMUP = 1.0
# Per worker, in the ceiling phase: more than any window can take.
CEILING_LINES = 1_000_000_000
ACCESS = re.compile(rb"access worker=\d+ pid=(\d+) seq=(\d+) ")


def write_ecosystem(folder: str, worker: str, env: dict) -> str:
    path = os.path.join(folder, "ecosystem.toml")
    env_lines = "\n".join(f'{k} = "{v}"' for k, v in env.items())
    with open(path, "w", encoding="utf-8") as f:
        f.write(
            f"""[supervisor]
log_dir = "{folder}/logs"
control_socket = "{folder}/run/corral.sock"

[[apps]]
name = "{APP}"
command = "{worker}"
instances = {INSTANCES}
listen = ["127.0.0.1:0"]
wait_ready = true
kill_timeout = "2s"

[apps.env]
{env_lines}
"""
        )
    return path


# --------------------------------------------------------------------------
# What the kernel says


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of `pid`, in seconds."""
    with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_field(pid: int, name: str) -> int | None:
    """A numeric field of /proc/PID/status (of the main thread's task)."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def wakeups(pid: int) -> int:
    """Times the main thread went to sleep and was woken (voluntary context
    switches): the supervisor's event loop runs there."""
    return status_field(pid, "voluntary_ctxt_switches") or 0


def size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def count_newlines(path: str, start: int, end: int) -> int:
    """Newlines in bytes [start, end) of `path`."""
    if end <= start:
        return 0
    n = 0
    with open(path, "rb") as f:
        f.seek(start)
        left = end - start
        while left > 0:
            chunk = f.read(min(left, 1 << 22))
            if not chunk:
                break
            n += chunk.count(b"\n")
            left -= len(chunk)
    return n


# --------------------------------------------------------------------------
# What the supervisor and the files say


def reported_drops(sup: Supervisor) -> dict:
    """Lines the supervisor says it dropped or lost, from its JSON log.

    Counts are taken as running totals: the largest value per message and
    file (or app and stream), summed. Today's pipeline logs one
    "log lines could not be written" event per file at shutdown, with `lost`.
    """
    largest: dict = {}
    events = 0
    for line in sup.lines:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if not isinstance(ev, dict):
            continue
        for key in ("dropped", "lost"):
            value = ev.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                events += 1
                where = (ev.get("message"), key, ev.get("path"), ev.get("app"), ev.get("stream"))
                largest[where] = max(largest.get(where, 0), value)
    return {"events": events, "lines": sum(largest.values()),
            "by_source": [{"message": k[0], "field": k[1], "path": k[2], "app": k[3],
                           "stream": k[4], "count": v} for k, v in largest.items()]}


def audit_access_lines(path: str) -> dict:
    """Every access line in the file against what each worker wrote."""
    seen: dict = {}  # pid -> set of seq
    found = out_of_order = 0
    last: dict = {}
    with open(path, "rb") as f:
        for line in f:
            m = ACCESS.search(line)
            if not m:
                continue
            found += 1
            pid, seq = int(m.group(1)), int(m.group(2))
            seqs = seen.setdefault(pid, set())
            seqs.add(seq)
            if seq <= last.get(pid, -1):
                out_of_order += 1
            last[pid] = seq
    written = sum(max(s) + 1 for s in seen.values())
    distinct = sum(len(s) for s in seen.values())
    return {"workers": len(seen), "written": written, "found": found,
            "missing": written - distinct, "duplicated": found - distinct,
            "out_of_order": out_of_order}


# --------------------------------------------------------------------------
# One phase


def run_phase(args, folder: str, env: dict, seconds: float, perf_out: str | None) -> dict:
    os.makedirs(folder)
    worker = os.path.abspath(args.worker)
    eco = write_ecosystem(folder, worker, env)
    sup = start_supervisor(args.corral, eco, os.path.join(folder, "corral.log"))
    fleet = Fleet()
    out_log = os.path.join(folder, "logs", f"{APP}-out.log")
    try:
        wait_online(sup, fleet, timeout=20)
        if not fleet.all_online:
            raise BenchError("the supervisor did not report 'all apps online'")
        workers = sorted(fleet.online_at)
        pid = sup.proc.pid
        time.sleep(WARMUP)

        perf = None
        if perf_out:
            perf = subprocess.Popen(
                ["perf", "record", "-g", "-p", str(pid), "-o", perf_out, "--", "sleep", str(seconds)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0, s0, c0, v0 = time.monotonic(), size(out_log), cpu_seconds(pid), wakeups(pid)
        w0 = {w: cpu_seconds(w) for w in workers}
        time.sleep(seconds)
        t1, s1, c1, v1 = time.monotonic(), size(out_log), cpu_seconds(pid), wakeups(pid)
        w1 = {w: cpu_seconds(w) for w in workers}
        sup_threads = status_field(pid, "Threads")
        if perf is not None:
            perf.wait(timeout=seconds + 30)

        fleet.drain(sup)
        shutdown = stop_supervisor(sup, set(fleet.seen), args.worker)
        window = t1 - t0
        lines = count_newlines(out_log, s0, s1)
        result = {
            "seconds": window,
            "lines": lines,
            "lines_per_s": lines / window,
            "bytes_per_s": (s1 - s0) / window,
            "supervisor_cpu_pct": 100 * (c1 - c0) / window,
            "supervisor_threads": sup_threads,
            "supervisor_wakeups_per_s": (v1 - v0) / window,
            "workers_cpu_pct": [100 * (w1[w] - w0[w]) / window for w in workers],
            "reported_drops": reported_drops(sup),
            "shutdown": shutdown,
            "out_log_bytes": size(out_log),
        }
        per_100k = result["lines_per_s"] / 100_000
        result["supervisor_cpu_pct_per_100k"] = (
            result["supervisor_cpu_pct"] / per_100k if per_100k else None)
        return result
    except BenchError:
        print("--- last lines of the supervisor's log ---", file=sys.stderr)
        print(sup.tail(), file=sys.stderr)
        raise
    finally:
        if sup.proc.poll() is None:
            print(f"cleanup: {stop_supervisor(sup, set(fleet.seen), args.worker)}",
                  file=sys.stderr)


# --------------------------------------------------------------------------
# Report


def per_100k(r: dict) -> str:
    value = r["supervisor_cpu_pct_per_100k"]
    return f"{value:>10.1f}" if value is not None else f"{'n/a':>10}"


def print_steady(r: dict, rate: int, each: bool) -> None:
    a = r["audit"]
    d = r["reported_drops"]
    how = "(a') steady, one write per line" if each else "(a) steady, a batch every 10 ms"
    print(f"\n{how}: {rate} lines/s asked ({rate // INSTANCES} per worker, ~150 B each), "
          f"{r['seconds']:.1f} s window")
    print(f"  written to the file in the window  {r['lines_per_s']:>10.0f} lines/s "
          f"({r['bytes_per_s'] / 1e6:.2f} MB/s)")
    print(f"  supervisor CPU                     {r['supervisor_cpu_pct']:>10.1f} % of one core "
          f"({r['supervisor_threads']} threads)")
    print(f"  supervisor CPU per 100k lines/s    {per_100k(r)} %")
    print(f"  supervisor event loop wake-ups     {r['supervisor_wakeups_per_s']:>10.0f} /s")
    print("  workers CPU                        "
          + ", ".join(f"{c:.1f} %" for c in r["workers_cpu_pct"]))
    print(f"  whole run: written by the workers  {a['written']:>10}")
    print(f"             found in the file       {a['found']:>10} "
          f"(missing {a['missing']}, duplicated {a['duplicated']}, "
          f"out of order {a['out_of_order']})")
    print(f"             reported dropped/lost   {d['lines']:>10} ({d['events']} events)")


def print_ceiling(r: dict) -> None:
    d = r["reported_drops"]
    print(f"\n(b) ceiling: {INSTANCES} workers printing as fast as they can, "
          f"{r['seconds']:.1f} s window")
    print(f"  written to the file                {r['lines_per_s']:>10.0f} lines/s "
          f"({r['bytes_per_s'] / 1e6:.2f} MB/s)")
    print(f"  supervisor CPU                     {r['supervisor_cpu_pct']:>10.1f} % of one core "
          f"({r['supervisor_threads']} threads)")
    print(f"  supervisor CPU per 100k lines/s    {per_100k(r)} %")
    print(f"  supervisor event loop wake-ups     {r['supervisor_wakeups_per_s']:>10.0f} /s")
    print("  workers CPU                        "
          + ", ".join(f"{c:.1f} %" for c in r["workers_cpu_pct"]))
    print(f"  reported dropped/lost              {d['lines']:>10} ({d['events']} events)")


# --------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=int, default=20000, help="total lines/s in (a) [20000]")
    ap.add_argument("--seconds", type=float, default=10.0, help="window of (a), seconds [10]")
    ap.add_argument("--ceiling-seconds", type=float, default=10.0,
                    help="window of (b), seconds [10]")
    ap.add_argument("--only", choices=("steady", "each", "ceiling"), help="run one phase only")
    ap.add_argument("--corral", default=os.path.join(ROOT, "target/release/corral"))
    ap.add_argument("--worker", default=os.path.join(ROOT, "target/release/test-worker"))
    ap.add_argument("--dir", help="parent of the temp dir (the log files' filesystem) [$TMPDIR]")
    ap.add_argument("--perf", metavar="FILE",
                    help="perf record -g the supervisor during (a) and (a')")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (ecosystem, logs)")
    args = ap.parse_args()

    for path in (args.corral, args.worker):
        if not os.access(path, os.X_OK):
            print(f"log_throughput: {path} is not an executable; build with "
                  "`cargo build --release --workspace`", file=sys.stderr)
            return 2
    if args.rate < INSTANCES:
        print(f"log_throughput: --rate must be at least {INSTANCES}", file=sys.stderr)
        return 2

    def on_term(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)

    tmp = tempfile.mkdtemp(prefix="corral-logbench-", dir=args.dir)
    results: dict = {"cpus": os.cpu_count(), "log_fs": filesystem_of(tmp)}
    print(f"logs in {tmp} ({results['log_fs']}); {os.cpu_count()} CPUs")
    try:
        for phase, each in (("steady", False), ("each", True)):
            if args.only not in (None, phase):
                continue
            env = {"TW_LOG_RATE": args.rate // INSTANCES}
            if each:
                env["TW_LOG_EACH"] = 1
            perf = args.perf and (args.perf + ".each" if each else args.perf)
            steady = run_phase(args, os.path.join(tmp, phase), env, args.seconds, perf)
            steady["audit"] = audit_access_lines(os.path.join(tmp, phase, "logs",
                                                              f"{APP}-out.log"))
            results[phase] = steady
            print_steady(steady, args.rate, each)
            if not args.keep:  # room on disk for the ceiling's files
                shutil.rmtree(os.path.join(tmp, phase, "logs"), ignore_errors=True)
        if args.only in (None, "ceiling"):
            ceiling = run_phase(args, os.path.join(tmp, "ceiling"),
                                {"TW_PRINT_LINES": CEILING_LINES},
                                args.ceiling_seconds, None)
            results["ceiling"] = ceiling
            print_ceiling(ceiling)
        if args.perf:
            written = [p for p in (args.perf, args.perf + ".each") if os.path.exists(p)]
            print(f"\nperf data: {', '.join(written)} (perf report -i FILE --no-children)")
        if args.json:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(results, f, indent=2)
        return 0
    except BenchError as err:
        print(f"log_throughput: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("log_throughput: interrupted; the supervisor was stopped", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def filesystem_of(path: str) -> str:
    """The type of the filesystem `path` is on, from /proc/self/mounts."""
    best, kind = "", "unknown"
    real = os.path.realpath(path)
    try:
        with open("/proc/self/mounts", encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                mount, fstype = parts[1], parts[2]
                if (real == mount or real.startswith(mount.rstrip("/") + "/")) and len(mount) > len(best):
                    best, kind = mount, fstype
    except OSError:
        pass
    return kind


if __name__ == "__main__":
    sys.exit(main())
