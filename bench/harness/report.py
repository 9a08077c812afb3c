"""The suite's tables, printed and written into docs/benchmarks.md between
the `<!-- suite:NAME:begin -->` and `<!-- suite:NAME:end -->` markers."""

from __future__ import annotations

import re

from harness.load import SCENARIOS
from harness.stats import median_of, ratio
from harness.targets import LABELS

RATIOS = (("c", "a"), ("c", "b"), ("c", "d"))


def num(value, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def main_tables(summary: dict, keys: list, rounds: int) -> str:
    """Requests/s with the ratios, then p50/p99, then every round's req/s."""
    scen = [s for s in SCENARIOS if s in summary]
    head = [LABELS[k] for k in keys]
    ratios = [(n, d) for n, d in RATIOS if n in keys and d in keys]
    out = [f"Successful (2xx) requests/s, median of {rounds} rounds:", "",
           "| scenario | " + " | ".join(head) + "".join(f" | ({n})/({d})" for n, d in ratios) + " |",
           "| --- |" + " ---: |" * (len(keys) + len(ratios))]
    for s in scen:
        row = [num(summary[s].get(k, {}).get("rps")) for k in keys]
        for n, d in ratios:
            r = ratio(summary[s].get(n, {}).get("rps"), summary[s].get(d, {}).get("rps"))
            row.append("—" if r is None else f"{r:.2f}")
        out.append(f"| {s} {SCENARIOS[s]} | " + " | ".join(row) + " |")
    out += ["", "Latency p50 / p99 in ms (medians over the rounds), and errors (non-2xx "
            "answers plus socket errors, summed over the rounds) where there were any:", "",
            "| scenario | " + " | ".join(head) + " |", "| --- |" + " ---: |" * len(keys)]
    for s in scen:
        cells = []
        for k in keys:
            c = summary[s].get(k)
            if not c:
                cells.append("—")
                continue
            text = f"{num(c['p50_ms'], 2)} / {num(c['p99_ms'], 2)}"
            logged = ", ".join(f"{n:,} × {st}" for st, n in sorted(c["statuses"].items()))
            errors = f"{c['errors']:,} errors" + (f": {logged} in the log" if logged else "")
            cells.append(text + (f" ({errors})" if c["errors"] or logged else ""))
        out.append(f"| {s} | " + " | ".join(cells) + " |")
    out += ["", "Successful requests/s of each round:", "",
            "| scenario | " + " | ".join(head) + " |", "| --- |" + " ---: |" * len(keys)]
    for s in scen:
        cells = [" / ".join(num(v) for v in summary[s][k]["rps_all"]) if k in summary[s] else "—"
                 for k in keys]
        out.append(f"| {s} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def processes_table(cells: list, keys: list) -> str:
    """CPU of the supervisor and of each worker per round (a worker near 0%
    got no connection), log lines/s, memory after load."""
    out = ["Processes during the measured windows: CPU in % of one core (the supervisor's "
           "median; each worker's, round by round, so a worker left without connections "
           "shows as 0), access-log lines written per second (median), VmRSS after the "
           "load (the largest of any round):", "",
           "| scenario | target | supervisor CPU | workers CPU, each round | access-log lines/s | "
           "supervisor RSS | workers RSS |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for s in SCENARIOS:
        for k in keys:
            mine = sorted((c for c in cells if c["scenario"] == s and c["target"] == k),
                          key=lambda c: c.get("round", 0))
            if not mine or k == "a":
                continue
            sup = median_of([c["supervisor_cpu_pct"] for c in mine])
            split = " / ".join("+".join(num(w) for w in c["workers_cpu_pct"]) for c in mine)
            sup_rss = max((c["supervisor_rss_kb"] or 0) for c in mine)
            w_rss = max((w or 0) for c in mine for w in c["workers_rss_kb"])
            out.append(f"| {s} | {LABELS[k]} | {num(sup, 1)} | {split} | "
                       f"{num(median_of([c['log_lines_per_s'] for c in mine]))} | "
                       + (f"{sup_rss / 1024:.1f} MiB" if sup_rss else "—")
                       + f" | {w_rss / 1024:.1f} MiB |")
    return "\n".join(out)


def extras_table(extras: dict) -> str:
    out = ["| what | measured |", "| --- | ---: |"]
    start = extras.get("start")
    if start:
        sup = [r["supervisor_kb"] for r in start["idle_rss"]]
        workers = [w for r in start["idle_rss"] for w in r["workers_kb"]]
        out += [f"| `corral run` to the first 200 on `GET /health` (median of {len(start['first_200_ms'])}) "
                f"| {num(start['first_200_median_ms'], 1)} ms |",
                f"| `corral run` to \"all apps online\" | {num(start['all_online_median_ms'], 1)} ms |",
                f"| supervisor RSS, idle 2 s after start | {min(sup) / 1024:.1f}-{max(sup) / 1024:.1f} MiB |",
                f"| worker RSS, idle 2 s after start | {min(workers) / 1024:.1f}-{max(workers) / 1024:.1f} MiB |"]
    kill = extras.get("kill")
    if kill:
        n = len(kill["samples"])
        out += [f"| `kill -9` of the only worker → replacement spawned (median of {n}) | "
                f"{num(kill['spawned_ms_median'], 1)} ms |",
                f"| `kill -9` → replacement online (READY=1) | {num(kill['online_ms_median'], 1)} ms |",
                f"| `kill -9` → `GET /health` sent at the kill answered 200 (median; max) | "
                f"{num(kill['serving_ms_median'], 1)} ms; {num(kill['serving_max'], 1)} ms |"]
    logs = extras.get("logs")
    if logs:
        out += [f"| corral CPU carrying {num(logs['lines_per_s'])} log lines/s, one write per line "
                f"(bench/log_throughput.py --only each) | {logs['supervisor_cpu_pct']:.1f}% of one core |"]
    return "\n".join(out)


def profile_section(profiles: dict) -> str:
    out = []
    for (key, scenario), p in profiles.items():
        out += [f"**{LABELS[key]}, {scenario} {SCENARIOS[scenario]}** (worker pid {p['worker']}, "
                f"{p['samples']:,} samples):", "",
                "| share of samples | where (first match up the call stack) |", "| ---: | --- |"]
        out += [f"| {share:.1f}% | {name} |" for share, name in p["categories"]]
        out += ["", "Top functions by self time: " + ", ".join(
            f"`{sym.replace('|', '/')}` {share:.1f}%" for share, sym in p["top"][:8]) + ".", ""]
    return "\n".join(out)


def replace_block(doc: str, name: str, body: str) -> str:
    """`doc` with the text between the markers of `name` replaced by `body`."""
    begin, end = f"<!-- suite:{name}:begin -->", f"<!-- suite:{name}:end -->"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if not pattern.search(doc):
        raise ValueError(f"docs/benchmarks.md has no {begin} ... {end} block to fill")
    return pattern.sub(lambda _: f"{begin}\n{body.rstrip()}\n{end}", doc)
