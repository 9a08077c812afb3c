#!/usr/bin/env python3
"""Kill-to-serving latency and idle memory of the corral supervisor.

Starts `corral run` with a temporary ecosystem (one app, 2 instances of the
test worker on 127.0.0.1:0, wait_ready = true), waits for "all apps online"
in its JSON log, then N times:

  1. asks `GET /` which worker answers (a fresh connection each time),
  2. waits until that worker has been online for --settle seconds (so that
     its death is an ordinary crash, not an "unstable restart" that the
     supervisor may delay: min_uptime defaults to 1s),
  3. SIGKILLs it and timestamps the kill (monotonic clock),
  4. follows the supervisor's log: "worker exited" (the reaper saw it),
     "worker spawned" (the replacement was forked), "worker online" (it sent
     READY=1) for a pid never seen before,
  5. then polls `GET /` on fresh connections until the new pid answers
     (bounded): that is "serving".

It prints median, p90, min and max of each step, then the supervisor's idle
memory (VmRSS from /proc/PID/status, Pss from /proc/PID/smaps_rollup) after
2 s idle with 2 workers, once right after start-up and once after the kill
loop, and each test worker's for reference.

The supervisor is always stopped at the end (SIGTERM, wait, then SIGKILL if
it hangs), also on Ctrl-C or SIGTERM to this script.

Python 3 standard library only. Usage:
    bench/kill_to_serving.py [--runs 50] [--corral PATH] [--worker PATH]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP = "api"
INSTANCES = 2


class BenchError(Exception):
    """The benchmark cannot go on; the message says why."""


# --------------------------------------------------------------------------
# The supervisor and its log


@dataclass
class Event:
    t: float  # time.monotonic() when the line was read
    fields: dict


@dataclass
class Supervisor:
    proc: subprocess.Popen
    log_path: str
    events: "queue.Queue[Event]" = field(default_factory=queue.Queue)
    lines: list = field(default_factory=list)
    reader: threading.Thread | None = None

    def start_reader(self) -> None:
        def read() -> None:
            with open(self.log_path, "w", encoding="utf-8") as raw:
                for line in self.proc.stderr:  # type: ignore[union-attr]
                    t = time.monotonic()
                    raw.write(line)
                    raw.flush()
                    self.lines.append(line.rstrip("\n"))
                    try:
                        fields = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(fields, dict):
                        self.events.put(Event(t, fields))

        self.reader = threading.Thread(target=read, name="log-reader", daemon=True)
        self.reader.start()

    def next_event(self, deadline: float) -> Event:
        """The next log event, or BenchError at the deadline or exit."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BenchError("timed out waiting for the supervisor's log")
            try:
                return self.events.get(timeout=min(remaining, 0.2))
            except queue.Empty:
                if self.proc.poll() is not None and self.events.empty():
                    raise BenchError(
                        f"the supervisor exited with {self.proc.returncode}"
                    ) from None

    def tail(self, n: int = 25) -> str:
        return "\n".join(self.lines[-n:])


def start_supervisor(corral: str, eco: str, log_path: str) -> Supervisor:
    env = dict(os.environ)
    env["CORRAL_LOG_FORMAT"] = "json"
    env.setdefault("CORRAL_LOG", "info")
    # Never hand systemd's sockets or notify socket of a surrounding unit on.
    for key in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET"):
        env.pop(key, None)
    proc = subprocess.Popen(
        [corral, "run", eco],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
        env=env,
        # Own session: a Ctrl-C in the terminal reaches this script only, and
        # the script stops the supervisor itself, in order.
        start_new_session=True,
    )
    sup = Supervisor(proc, log_path)
    sup.start_reader()
    return sup


def stop_supervisor(sup: Supervisor, known_workers: set[int], worker_path: str) -> str:
    """SIGTERM, wait, SIGKILL if needed; returns how it went."""
    proc = sup.proc
    outcome = "already exited"
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)  # kill_timeout is 2s; allow generous slack
            outcome = f"exited {proc.returncode} after SIGTERM"
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
            outcome = "did not stop on SIGTERM; SIGKILLed"
    if sup.reader is not None:
        sup.reader.join(timeout=3)
    # Workers die with the supervisor (PR_SET_PDEATHSIG); make sure, by pid,
    # and only processes that are still our test workers.
    time.sleep(0.1)
    for pid in known_workers:
        if is_process_of(pid, worker_path):
            try:
                os.kill(pid, signal.SIGKILL)
                outcome += f"; leftover worker {pid} killed"
            except ProcessLookupError:
                pass
    return outcome


def is_process_of(pid: int, program: str) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
        return os.readlink(f"/proc/{pid}/exe") == os.path.realpath(program)
    except OSError:
        return False


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def write_ecosystem(tmp: str, worker: str, listen: str) -> str:
    path = os.path.join(tmp, "ecosystem.toml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(
            f"""[supervisor]
log_dir = "{tmp}/logs"
control_socket = "{tmp}/run/corral.sock"

[[apps]]
name = "{APP}"
command = "{worker}"
instances = {INSTANCES}
listen = ["{listen}"]
wait_ready = true
kill_timeout = "2s"
"""
        )
    return path


# --------------------------------------------------------------------------
# Fleet state, as the log tells it


@dataclass
class Fleet:
    online_at: dict = field(default_factory=dict)  # pid -> monotonic time
    seen: set = field(default_factory=set)  # every worker pid ever spawned
    port: int | None = None
    bound_from_log: bool = False
    all_online: bool = False

    def apply(self, ev: Event) -> None:
        f = ev.fields
        msg = f.get("message")
        pid = f.get("pid")
        if msg == "worker spawned" and isinstance(pid, int):
            self.seen.add(pid)
        elif msg == "worker online" and isinstance(pid, int):
            self.seen.add(pid)
            self.online_at[pid] = ev.t
        elif msg in ("worker exited", "worker stopped") and isinstance(pid, int):
            self.online_at.pop(pid, None)
        elif msg == "listening":
            bound = f.get("bound")
            if isinstance(bound, str) and bound.rsplit(":", 1)[-1] not in ("", "0"):
                self.port = int(bound.rsplit(":", 1)[1])
                self.bound_from_log = True
        elif msg == "all apps online":
            self.all_online = True
        elif msg == "app errored":
            raise BenchError(f"the app errored: {f.get('reason')}")

    def drain(self, sup: Supervisor) -> None:
        while True:
            try:
                self.apply(sup.events.get_nowait())
            except queue.Empty:
                return


def wait_online(sup: Supervisor, fleet: Fleet, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not fleet.all_online:
        ev = sup.next_event(deadline)
        fleet.apply(ev)
        if ev.fields.get("message") == "listening" and not fleet.bound_from_log:
            return  # the caller decides what to do without a bound port


# --------------------------------------------------------------------------
# HTTP


def who_answers(port: int, timeout: float = 2.0) -> int:
    """`GET /` on a fresh connection; the pid of the worker that answered."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise BenchError(f"GET / answered {resp.status}: {body[:200]!r}")
        return int(json.loads(body)["pid"])
    finally:
        conn.close()


# --------------------------------------------------------------------------
# Measurements


def measure_once(
    sup: Supervisor, fleet: Fleet, settle: float, timeout: float
) -> dict:
    fleet.drain(sup)
    victim = who_answers(fleet.port)  # type: ignore[arg-type]
    if victim not in fleet.online_at:
        # The log may lag a response by a moment.
        time.sleep(0.05)
        fleet.drain(sup)
        if victim not in fleet.online_at:
            raise BenchError(f"pid {victim} answered but is not an online worker")
    wait = fleet.online_at[victim] + settle - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    fleet.drain(sup)

    before = set(fleet.seen)
    t0 = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    deadline = t0 + timeout
    marks: dict = {}
    new_pid = None
    while new_pid is None:
        ev = sup.next_event(deadline)
        fleet.apply(ev)
        msg, pid = ev.fields.get("message"), ev.fields.get("pid")
        if msg == "worker exited" and pid == victim:
            marks.setdefault("exited", ev.t - t0)
        elif msg == "worker spawned" and pid not in before:
            marks.setdefault("spawned", ev.t - t0)
        elif msg == "worker online" and pid not in before:
            new_pid = pid
            marks["online"] = ev.t - t0

    attempts = 0
    while True:
        attempts += 1
        try:
            pid = who_answers(fleet.port, timeout=max(0.1, deadline - time.monotonic()))  # type: ignore[arg-type]
        except (OSError, http.client.HTTPException) as err:
            raise BenchError(f"GET / failed while waiting for pid {new_pid}: {err}") from err
        if pid == new_pid:
            marks["serving"] = time.monotonic() - t0
            break
        if time.monotonic() > deadline or attempts >= 1000:
            raise BenchError(f"new worker {new_pid} never answered GET / ({attempts} tries)")
    marks["victim"] = victim
    marks["new_pid"] = new_pid
    marks["http_tries"] = attempts
    return marks


def read_kv(path: str, keys: tuple) -> dict:
    out = {}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name in keys:
                    out[name] = int(rest.split()[0])  # kB
    except OSError:
        pass
    return out


def memory_of(pid: int) -> dict:
    status = read_kv(f"/proc/{pid}/status", ("VmRSS", "Threads"))
    rollup = read_kv(f"/proc/{pid}/smaps_rollup", ("Rss", "Pss", "Private_Dirty"))
    return {
        "pid": pid,
        "vmrss_kb": status.get("VmRSS"),
        "pss_kb": rollup.get("Pss"),
        "private_dirty_kb": rollup.get("Private_Dirty"),
        "threads": status.get("Threads"),
    }


def memory_snapshot(sup: Supervisor, fleet: Fleet, idle: float) -> dict:
    time.sleep(idle)
    fleet.drain(sup)
    workers = sorted(fleet.online_at)
    if len(workers) != INSTANCES:
        raise BenchError(f"expected {INSTANCES} online workers, the log shows {workers}")
    return {
        "supervisor": memory_of(sup.proc.pid),
        "workers": [memory_of(pid) for pid in workers],
    }


# --------------------------------------------------------------------------
# Report


def pct(values: list, p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil
    return ordered[int(rank) - 1]


def summarize(samples: list) -> dict:
    out = {}
    for step in ("exited", "spawned", "online", "serving"):
        values = [s[step] * 1000 for s in samples if step in s]
        if values:
            out[step] = {
                "n": len(values),
                "median_ms": statistics.median(values),
                "p90_ms": pct(values, 90),
                "min_ms": min(values),
                "max_ms": max(values),
            }
    tries = [s["http_tries"] for s in samples]
    out["http_tries"] = {"median": statistics.median(tries), "max": max(tries)}
    return out


LABELS = {
    "exited": "kill -> 'worker exited' logged",
    "spawned": "kill -> replacement spawned",
    "online": "kill -> replacement online (READY=1)",
    "serving": "kill -> replacement answers GET /",
}


def print_report(summary: dict, mem: dict, meta: dict) -> None:
    print()
    print(f"kill -9 -> new worker, {meta['runs']} runs, {INSTANCES} instances "
          f"(settle {meta['settle']}s between kills); {os.cpu_count()} CPUs")
    print(f"{'step':40} {'median':>9} {'p90':>9} {'min':>9} {'max':>9}")
    for step, label in LABELS.items():
        s = summary.get(step)
        if s:
            print(f"{label:40} {s['median_ms']:7.2f}ms {s['p90_ms']:7.2f}ms "
                  f"{s['min_ms']:7.2f}ms {s['max_ms']:7.2f}ms")
    t = summary["http_tries"]
    print(f"GET / requests until the new pid answered: median {t['median']}, max {t['max']}")
    print()
    print(f"{'memory (kB)':40} {'VmRSS':>8} {'Pss':>8} {'Private_Dirty':>14} {'threads':>8}")
    for when, snap in mem.items():
        s = snap["supervisor"]
        print(f"{'supervisor, ' + when:40} {s['vmrss_kb']:>8} {s['pss_kb']:>8} "
              f"{s['private_dirty_kb']:>14} {s['threads']:>8}")
        for i, w in enumerate(snap["workers"]):
            label = f"  test-worker {i} (pid {w['pid']})"
            print(f"{label:40} {w['vmrss_kb']:>8} "
                  f"{w['pss_kb']:>8} {w['private_dirty_kb']:>14} {w['threads']:>8}")
    print()
    print(f"port: {meta['port']} ({meta['port_source']}); shutdown: {meta['shutdown']}")


# --------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=50, help="kills to measure [50]")
    ap.add_argument("--corral", default=os.path.join(ROOT, "target/release/corral"))
    ap.add_argument("--worker", default=os.path.join(ROOT, "target/release/test-worker"))
    ap.add_argument("--settle", type=float, default=1.5,
                    help="min seconds a worker is online before it is killed [1.5]; "
                         "keep above min_uptime (1s) to measure plain restarts")
    ap.add_argument("--idle", type=float, default=2.0, help="idle seconds before memory [2]")
    ap.add_argument("--timeout", type=float, default=10.0, help="per-kill bound, seconds [10]")
    ap.add_argument("--json", metavar="FILE", help="also write raw samples and summary as JSON")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (ecosystem, logs)")
    args = ap.parse_args()

    for path in (args.corral, args.worker):
        if not os.access(path, os.X_OK):
            print(f"kill_to_serving: {path} is not an executable; build with "
                  "`cargo build --release --workspace`", file=sys.stderr)
            return 2

    # SIGTERM to this script: unwind through the finally below, like Ctrl-C.
    def on_term(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)

    tmp = tempfile.mkdtemp(prefix="corral-bench-")
    sup = None
    fleet = Fleet()
    meta: dict = {"runs": args.runs, "settle": args.settle}
    try:
        eco = write_ecosystem(tmp, os.path.abspath(args.worker), "127.0.0.1:0")
        sup = start_supervisor(args.corral, eco, os.path.join(tmp, "corral.log"))
        wait_online(sup, fleet, timeout=20)
        meta["port_source"] = "the 'listening' event's `bound` field"
        if not fleet.bound_from_log:
            # Older builds log only the configured address (port 0): restart
            # on a port picked here (racy in principle, fine on a test box).
            print("note: the 'listening' event does not carry the bound port; "
                  "restarting on a pre-picked free port", file=sys.stderr)
            stop_supervisor(sup, set(fleet.seen), args.worker)
            port = free_port()
            eco = write_ecosystem(tmp, os.path.abspath(args.worker), f"127.0.0.1:{port}")
            fleet = Fleet(port=port)
            sup = start_supervisor(args.corral, eco, os.path.join(tmp, "corral.log"))
            wait_online(sup, fleet, timeout=20)
            while not fleet.all_online:
                fleet.apply(sup.next_event(time.monotonic() + 20))
            meta["port_source"] = "pre-picked free port (not in the log)"
        meta["port"] = fleet.port

        mem = {"after start, 2 s idle": memory_snapshot(sup, fleet, args.idle)}

        samples = []
        for i in range(args.runs):
            s = measure_once(sup, fleet, args.settle, args.timeout)
            samples.append(s)
            print(f"[{i + 1:>3}/{args.runs}] killed {s['victim']:>7} -> {s['new_pid']:>7}: "
                  f"exited {s.get('exited', float('nan')) * 1000:6.2f} ms, "
                  f"online {s['online'] * 1000:6.2f} ms, "
                  f"serving {s['serving'] * 1000:6.2f} ms ({s['http_tries']} GET)",
                  flush=True)

        mem["after the kills, 2 s idle"] = memory_snapshot(sup, fleet, args.idle)
        summary = summarize(samples)
        meta["shutdown"] = stop_supervisor(sup, set(fleet.seen), args.worker)
        stopped = any('"supervisor stopped"' in line for line in sup.lines)
        meta["shutdown"] += "; 'supervisor stopped' logged" if stopped else "; no 'supervisor stopped' in the log"
        print_report(summary, mem, meta)
        if args.json:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump({"meta": meta, "summary": summary, "memory": mem,
                           "samples": samples, "cpus": os.cpu_count()}, f, indent=2)
        return 0
    except BenchError as err:
        print(f"kill_to_serving: {err}", file=sys.stderr)
        if sup is not None:
            print("--- last lines of the supervisor's log ---", file=sys.stderr)
            print(sup.tail(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kill_to_serving: interrupted; stopping the supervisor", file=sys.stderr)
        return 130
    finally:
        if sup is not None and sup.proc.poll() is None:
            print(f"cleanup: {stop_supervisor(sup, set(fleet.seen), args.worker)}",
                  file=sys.stderr)
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
