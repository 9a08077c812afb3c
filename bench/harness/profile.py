"""Where a worker's time goes under load: `perf record` with DWARF call
stacks on the busiest worker of a target, each sample put in the first
category whose pattern appears anywhere in its stack (so a `write` made by
the access log counts as logging, not as a syscall), and the top symbols
by self time."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections import Counter

from harness import targets
from harness.load import wrk_command
from harness.procs import cpu_seconds

# In priority order: the first category with a pattern in the stack wins.
CATEGORIES = [
    ("context switches and futex waits (thread hand-offs, parking)",
     ("finish_task_switch", "futex", "__schedule", "schedule_hrtimeout", "do_nanosleep")),
    ("access log: the app's line formatting and its writer thread", ("infrastructure::telemetry",)),
    ("tracing: events and their formatting", ("tracing_subscriber", "tracing_core")),
    ("SQLite: the engine, on the writer thread or sqlx's read connections", ("sqlx_sqlite", "sqlite3")),
    ("PostgreSQL and Redis clients", ("sqlx_postgres", "redis::")),
    ("sqlx pool and query plumbing", ("sqlx_core",)),
    ("JSON: serde_json", ("serde_json",)),
    ("read cache: moka", ("moka",)),
    ("hashing: sha2", ("sha2",)),
    ("HTTP: hyper, axum, tower, with their socket reads and writes", ("hyper", "axum", "tower")),
    ("tokio runtime: polling, timers, epoll", ("tokio", "epoll")),
    ("memory allocation", ("malloc", "_int_free", "cfree", "realloc")),
]
OTHER = "other"


def categorize(stacks: list) -> list:
    """(share %, category) for each category, largest first.

    >>> categorize([["write", "tracing_subscriber::fmt::X", "main"],
    ...             ["sqlite3VdbeExec", "sqlx_sqlite::worker"],
    ...             ["finish_task_switch", "sqlx_sqlite::worker"], ["memcpy"]])
    [(25.0, 'context switches and futex waits (thread hand-offs, parking)'), (25.0, 'tracing: events and their formatting'), (25.0, "SQLite: the engine, on the writer thread or sqlx's read connections"), (25.0, 'other')]
    """
    counts: Counter = Counter()
    for stack in stacks:
        joined = "\n".join(stack)
        for name, patterns in CATEGORIES:
            if any(p in joined for p in patterns):
                counts[name] += 1
                break
        else:
            counts[OTHER] += 1
    total = sum(counts.values()) or 1
    order = [name for name, _ in CATEGORIES] + [OTHER]
    return sorted(((100 * counts[n] / total, n) for n in order if counts[n]),
                  key=lambda item: -item[0])


def parse_script(text: str) -> list:
    """The stacks (leaf first, symbols only) of `perf script` output.

    >>> parse_script("app 1 [000] 1.0: 1 cpu-clock:\\n\\t 7f01 write+0x1 (/lib/libc.so)\\n"
    ...              "\\t 55aa main+0x2 (/bin/app)\\n\\napp 1 [000] 1.1: 1 cpu-clock:\\n"
    ...              "\\t ffff [unknown] ([kernel.kallsyms])\\n")
    [['write', 'main'], ['[unknown]']]
    """
    stacks, current = [], None
    for line in text.splitlines():
        if not line.strip():
            if current is not None:
                stacks.append(current)
            current = None
        elif line[0] in " \t":
            parts = line.split(None, 1)
            if current is not None and len(parts) == 2:
                current.append(parts[1].rsplit(" (", 1)[0].split("+0x")[0])
        else:
            current = []
    if current is not None:
        stacks.append(current)
    return stacks


def profile(key: str, scenario: str, paths, data, work: str, opts, env_extra: dict) -> dict:
    """Profiles the busiest worker of `key` for opts.profile_seconds in the
    middle of a wrk run of `scenario` (its CPU during the first second picks it)."""
    folder = os.path.join(work, f"profile-{key}-{scenario}")
    os.makedirs(folder)
    live = targets.start(key, paths, data, folder, env_extra)
    try:
        cmd = wrk_command(scenario, live.port, data, f"prof{scenario}", opts)
        wrk = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        before = {pid: cpu_seconds(pid) or 0 for pid in live.workers}
        time.sleep(1.0)
        busiest = max(live.workers, key=lambda p: (cpu_seconds(p) or 0) - before[p])
        data_file = os.path.join(work, f"perf-{key}-{scenario}.data")
        subprocess.run(["perf", "record", "--call-graph", "dwarf,16384", "-F", "499",
                        "-p", str(busiest), "-o", data_file, "--", "sleep",
                        str(opts.profile_seconds)], capture_output=True, check=True)
        wrk.communicate(timeout=opts.seconds + 60)
        script = subprocess.run(["perf", "script", "-i", data_file, "-F", "comm,tid,time,ip,sym,dso"],
                                capture_output=True, text=True, check=True).stdout
        stacks = parse_script(script)
        leaves = Counter(stack[0] for stack in stacks if stack)
        top = [(100 * n / len(stacks), sym) for sym, n in leaves.most_common(12)]
        return {"worker": busiest, "samples": len(stacks), "categories": categorize(stacks),
                "top": top}
    finally:
        live.stop()
        shutil.rmtree(folder, ignore_errors=True)
