"""Processes and HTTP for the suite: ports, readiness, stopping by pid,
what /proc says about memory and CPU."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections import Counter

CLK_TCK = os.sysconf("SC_CLK_TCK")


class SuiteError(Exception):
    """The suite cannot go on; the message says what failed and what to do."""


def free_port() -> int:
    """A port free on 127.0.0.1 now (for programs that cannot take port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port: int, method: str, path: str, body=None, token: str | None = None,
            timeout: float = 10.0, extra: dict | None = None) -> tuple[int, dict, bytes]:
    """One request on a fresh connection: (status, headers, body)."""
    headers = {"Accept": "application/json", **(extra or {})}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def call_json(port: int, method: str, path: str, body=None, token=None, expect=(200,)) -> dict:
    """`request`, checked and decoded as JSON."""
    status, _, raw = request(port, method, path, body, token)
    if status not in expect:
        raise SuiteError(f"{method} {path} answered {status}: {raw[:300]!r}")
    return json.loads(raw) if raw else {}


def wait_http_ok(port: int, path: str, proc: subprocess.Popen | None, timeout: float = 30) -> float:
    """Polls `path` until it answers 200; returns when it did (monotonic)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SuiteError(f"the server exited with {proc.returncode} before {path} answered 200")
        try:
            status, _, _ = request(port, "GET", path, timeout=2)
            if status == 200:
                return time.monotonic()
            last = f"status {status}"
        except OSError as err:
            last = str(err)
        time.sleep(0.02)
    raise SuiteError(f"GET {path} on port {port} did not answer 200 within {timeout} s ({last})")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    """Stops a process the suite started: `sig`, then SIGKILL if it hangs."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def kill_pid(pid: int, program: str) -> None:
    """SIGKILLs `pid` if it is still a live process running `program`."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return
        if os.path.realpath(os.readlink(f"/proc/{pid}/exe")) == os.path.realpath(program):
            os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def rss_kb(pid: int) -> int | None:
    """VmRSS of `pid` in kB (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of every thread of `pid`, in seconds (None once gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except OSError:
        return None


def machine_ticks() -> tuple[int, int]:
    """(stolen, all) clock ticks of the whole machine since boot, from the
    first line of /proc/stat: the time the hypervisor gave the CPUs to
    someone else, and the time of every state (steal included)."""
    with open("/proc/stat", encoding="utf-8") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice]:
    # guest time is already counted in user and nice.
    return fields[7], sum(fields[:8])


def file_size(path: str) -> int:
    """The size of `path`, 0 when it does not exist (yet)."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


STATUS = re.compile(rb'"status":"?([1-5]\d\d)\b')


def scan_log(path: str, start: int, end: int) -> tuple[int, Counter]:
    """Lines in `path` between the byte offsets `start` and `end`, and the
    statuses its access-log lines (JSON with a `status` field) show."""
    lines, statuses = 0, Counter()
    with open(path, "rb") as f:
        f.seek(start)
        left = end - start
        while left > 0:
            chunk = f.read(min(left, 1 << 20))
            if not chunk:
                break
            left -= len(chunk)
            # Whole lines only: the rest of a cut line is read with the next chunk.
            if left > 0 and not chunk.endswith(b"\n"):
                cut = chunk.rfind(b"\n") + 1
                if cut > 0:
                    f.seek(cut - len(chunk), os.SEEK_CUR)
                    left += len(chunk) - cut
                    chunk = chunk[:cut]
            lines += chunk.count(b"\n")
            statuses.update(m.decode() for m in STATUS.findall(chunk))
    return lines, statuses
