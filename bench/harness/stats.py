"""Pure helpers: reading wrk's output, medians over rounds, ratios.

No I/O here, so `python3 -m doctest bench/harness/stats.py` checks them.
"""

from __future__ import annotations

import re
import statistics

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def latency_ms(text: str) -> float:
    """wrk's latency figure in milliseconds.

    >>> latency_ms("812.00us"), latency_ms("3.21ms"), latency_ms("1.50s")
    (0.812, 3.21, 1500.0)
    """
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ValueError(f"not a wrk latency: {text!r}")
    return float(m.group(1)) * UNITS_MS[m.group(2)]


def parse_wrk(out: str) -> dict:
    """Requests/s, p50/p99 (ms), request count and errors from `wrk --latency`.

    >>> sample = '''Running 10s test @ http://127.0.0.1:1/health
    ...   1 threads and 64 connections
    ...   Latency Distribution
    ...      50%    1.02ms
    ...      75%    1.50ms
    ...      90%    2.00ms
    ...      99%  812.00us
    ...   250000 requests in 10.00s, 80.00MB read
    ...   Socket errors: connect 0, read 2, write 0, timeout 3
    ...   Non-2xx or 3xx responses: 7
    ... Requests/sec:  25000.50
    ... '''
    >>> r = parse_wrk(sample)
    >>> r["rps"], r["p50_ms"], r["p99_ms"], r["requests"], r["non2xx"], r["socket_errors"]
    (25000.5, 1.02, 0.812, 250000, 7, 5)
    """
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not rps:
        raise ValueError("wrk printed no Requests/sec line:\n" + out)
    pct = {p: re.search(rf"^\s+{p}%\s+(\S+)", out, re.M) for p in ("50", "99")}
    requests = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(rps.group(1)),
        "p50_ms": latency_ms(pct["50"].group(1)) if pct["50"] else None,
        "p99_ms": latency_ms(pct["99"].group(1)) if pct["99"] else None,
        "requests": int(requests.group(1)) if requests else 0,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(g) for g in sock.groups()) if sock else 0,
    }


def median_of(values: list) -> float | None:
    """The median of the values that are there (None when none are).

    >>> median_of([3, None, 1, 2]), median_of([None])
    (2, None)
    """
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def ok_rps(cell: dict) -> float:
    """Successful answers a second: wrk's rate less its non-2xx/3xx share
    (a storm of fast 503s must not look like throughput).

    >>> ok_rps({"rps": 100.0, "requests": 1000, "non2xx": 250})
    75.0
    """
    if not cell.get("requests"):
        return cell["rps"]
    return cell["rps"] * (cell["requests"] - cell["non2xx"]) / cell["requests"]


def summarize(cells: list[dict]) -> dict:
    """One (scenario, target)'s rounds: medians of successful answers a
    second, p50, p99; error sums.

    >>> s = summarize([{"rps": 10, "p50_ms": 1, "p99_ms": 9, "non2xx": 0, "socket_errors": 1},
    ...                {"rps": 30, "p50_ms": 3, "p99_ms": 7, "non2xx": 0, "socket_errors": 2},
    ...                {"rps": 20, "p50_ms": 2, "p99_ms": 8, "non2xx": 0, "socket_errors": 0}])
    >>> s["rps"], s["p50_ms"], s["p99_ms"], s["errors"], s["rounds"], s["rps_all"]
    (20, 2, 8, 3, 3, [10, 30, 20])
    >>> summarize([{"rps": 1, "p50_ms": 1, "p99_ms": 1, "non2xx": 2, "socket_errors": 0,
    ...             "logged_statuses": {"200": 5, "503": 2}}])["statuses"]
    {'503': 2}
    """
    statuses: dict = {}
    for c in cells:
        for status, n in c.get("logged_statuses", {}).items():
            if not status.startswith("2"):
                statuses[status] = statuses.get(status, 0) + n
    return {
        "statuses": statuses,
        "rps": median_of([ok_rps(c) for c in cells]),
        "p50_ms": median_of([c["p50_ms"] for c in cells]),
        "p99_ms": median_of([c["p99_ms"] for c in cells]),
        "errors": sum(c["non2xx"] + c["socket_errors"] for c in cells),
        "rounds": len(cells),
        "rps_all": [ok_rps(c) for c in cells],
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or zero.

    >>> ratio(30, 60), ratio(1, 0), ratio(None, 2)
    (0.5, None, None)
    """
    if not numerator or not denominator:
        return None
    return numerator / denominator


def rotated(items: list, round_index: int) -> list:
    """The order of one round: `items` rotated left by the round's index.

    >>> rotated(["a", "b", "c"], 0), rotated(["a", "b", "c"], 4)
    (['a', 'b', 'c'], ['b', 'c', 'a'])
    """
    k = round_index % len(items)
    return items[k:] + items[:k]
