"""The servers measured, each started afresh for every cell on a fresh
copy of the seeded data and stopped after it:

  a        the ceiling: bench/ceiling answering recorded bytes
  b        `app` alone, one process (APP_THREADS default: one per CPU)
  c        `app` under `corral run`, instances = "max", pin_cpus = true
  c-free   the same with the workers not pinned (pin_cpus = false)
  c-nolog  the same with the app's access log off (APP_ACCESS_LOG=off)
  c-pg     the same on PostgreSQL + Redis
  d        PM2 cluster x2 + Express 4 + better-sqlite3 (bench/express)
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import time
from dataclasses import dataclass, field

from harness.procs import SuiteError, free_port, kill_pid, request, stop, wait_http_ok
from harness.seed import Dataset, copy_sqlite, pg_clone, pg_drop, start_app
from kill_to_serving import Fleet, start_supervisor, stop_supervisor, wait_online

LABELS = {
    "a": "(a) ceiling",
    "b": "(b) app alone",
    "c": "(c) corral + app",
    "c-free": "(c-free) workers not pinned",
    "c-nolog": "(c-nolog) access log off",
    "c-pg": "(c-pg) PostgreSQL + Redis",
    "d": "(d) PM2 + Express",
}


@dataclass
class Live:
    """A started target: where it listens, its processes and log files."""

    port: int
    supervisor: int | None  # corral's or PM2's daemon pid
    workers: list
    logs: list  # files its access log lines go to
    stopper: object = None
    notes: dict = field(default_factory=dict)

    def log_paths(self) -> list:
        return [p for pattern in self.logs for p in glob.glob(pattern)]

    def stop(self) -> None:
        self.stopper()


@dataclass
class Paths:
    """Where the built programs are."""

    release: str
    express: str  # the installed copy of bench/express (with node_modules)
    routes: str  # the ceiling's recorded answers


def start(key: str, paths: Paths, data: Dataset, cell: str, env_extra: dict) -> Live:
    """Starts target `key` in the folder `cell` and waits until it serves."""
    if key == "a":
        return start_ceiling(paths, cell)
    if key == "b":
        return start_alone(paths, data, cell)
    if key in ("c", "c-free", "c-nolog", "c-pg"):
        return start_corral(paths, data, cell, env_extra, pin=key != "c-free")
    if key == "d":
        return start_pm2(paths, data, cell)
    raise SuiteError(f"unknown target {key!r}; known: {', '.join(LABELS)}")


def start_ceiling(paths: Paths, cell: str) -> Live:
    proc = subprocess.Popen([os.path.join(paths.release, "ceiling"), "--routes", paths.routes],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        stop(proc)
        raise SuiteError(f"the ceiling server did not start: {line!r}")
    port = int(line.rsplit(":", 1)[1])
    wait_http_ok(port, "/health", proc)
    return Live(port, None, [proc.pid], [], stopper=lambda: stop(proc))


def start_alone(paths: Paths, data: Dataset, cell: str) -> Live:
    db = os.path.join(cell, "app.db")
    copy_sqlite(data.sqlite_master, db)
    port = free_port()
    log = os.path.join(cell, "app-out.log")
    env = dict(os.environ, DATABASE_URL=f"sqlite://{db}")
    env.pop("APP_THREADS", None)
    proc = start_app(paths.release, env, port, log)
    wait_http_ok(port, "/health", proc)
    return Live(port, None, [proc.pid], [log], stopper=lambda: stop(proc))


def start_corral(paths: Paths, data: Dataset, cell: str, env_extra: dict, pin: bool) -> Live:
    app_env = dict(env_extra)
    dropped = None
    if data.backend == "sqlite":
        db = os.path.join(cell, "app.db")
        copy_sqlite(data.sqlite_master, db)
        app_env["DATABASE_URL"] = f"sqlite://{db}"
    else:
        dropped = f"corral_bench_{os.getpid()}_cell"
        pg_drop(data.pg_admin_url, dropped)
        app_env["DATABASE_URL"] = pg_clone(data.pg_admin_url, data.pg_template, dropped)
    app = os.path.join(paths.release, "app")
    eco = write_ecosystem(cell, app, "max", app_env, pin)
    sup = start_supervisor(os.path.join(paths.release, "corral"), eco,
                           os.path.join(cell, "corral.log"))
    fleet = Fleet()

    def stopper() -> None:
        stop_supervisor(sup, set(fleet.seen), app)
        if dropped:
            pg_drop(data.pg_admin_url, dropped)

    try:
        wait_online(sup, fleet, timeout=60)
        if not fleet.all_online or not fleet.bound_from_log:
            raise SuiteError("corral did not report its bound port and 'all apps online'")
        wait_http_ok(fleet.port, "/health", sup.proc)
    except Exception:
        print(sup.tail())
        stopper()
        raise
    live = Live(fleet.port, sup.proc.pid, sorted(fleet.online_at),
                [os.path.join(cell, "logs", "*-out.log")], stopper=stopper)
    live.notes["sup"] = sup
    return live


def write_ecosystem(cell: str, app: str, instances: str, env: dict, pin: bool = True) -> str:
    """An ecosystem for `corral run`: one app on 127.0.0.1:0, logs in `cell`,
    each worker on a CPU of its own unless `pin` is false."""
    path = os.path.join(cell, "ecosystem.toml")
    env_lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in env.items())
    count = f'"{instances}"' if instances == "max" else instances
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"""[supervisor]
log_dir = "{cell}/logs"
control_socket = "{cell}/run/corral.sock"

[[apps]]
name = "api"
command = "{app}"
instances = {count}
pin_cpus = {"true" if pin else "false"}
listen = ["127.0.0.1:0"]
wait_ready = true
kill_timeout = "15s"

[apps.env]
{env_lines}
""")
    return path


def start_pm2(paths: Paths, data: Dataset, cell: str) -> Live:
    db = os.path.join(cell, "express.db")
    copy_sqlite(os.path.join(os.path.dirname(data.sqlite_master), "express-master.db"), db)
    port = free_port()
    home = os.path.join(cell, "pm2")
    eco = os.path.join(cell, "ecosystem.config.js")
    with open(eco, "w", encoding="utf-8") as f:
        f.write("module.exports = " + json.dumps({"apps": [{
            "name": "api",
            "script": os.path.join(paths.express, "server.js"),
            "cwd": paths.express,
            "instances": 2,
            "exec_mode": "cluster",
            "merge_logs": True,
            "out_file": os.path.join(cell, "pm2-logs", "api-out.log"),
            "error_file": os.path.join(cell, "pm2-logs", "api-err.log"),
            "env": {"PORT": str(port), "DB_PATH": db, "NODE_ENV": "production"},
        }]}, indent=1) + ";\n")
    pm2 = os.path.join(paths.express, "node_modules", ".bin", "pm2")
    env = dict(os.environ, PM2_HOME=home)

    def pm2_run(*args: str) -> str:
        done = subprocess.run([pm2, *args], env=env, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise SuiteError(f"`pm2 {' '.join(args)}` failed: {done.stderr.strip()[-400:]}")
        return done.stdout

    def daemon_pid() -> int | None:
        try:
            with open(os.path.join(home, "pm2.pid"), encoding="utf-8") as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    workers: list = []

    def stopper() -> None:
        try:
            pm2_run("kill")
        except (SuiteError, subprocess.TimeoutExpired):
            pass
        for pid in [daemon_pid(), *workers]:
            if pid:
                kill_pid(pid, "/usr/bin/node")

    try:
        pm2_run("start", eco)
        deadline = time.monotonic() + 30
        while True:
            procs = json.loads(pm2_run("jlist"))
            workers = [p["pid"] for p in procs if p["pm2_env"]["status"] == "online" and p["pid"]]
            if len(workers) == 2:
                break
            if time.monotonic() > deadline:
                raise SuiteError(f"PM2 did not bring 2 workers online: {procs!r:.400}")
            time.sleep(0.1)
        wait_http_ok(port, "/health", None)
    except Exception:
        stopper()
        raise
    return Live(port, daemon_pid(), workers, [os.path.join(cell, "pm2-logs", "*-out.log")],
                stopper=stopper)


def access_log_is_off(live: Live) -> bool:
    """Whether a request's id stays out of the target's logs (1 s later)."""
    probe = f"bench-access-log-probe-{os.getpid()}-{time.monotonic_ns()}"
    request(live.port, "GET", "/health", extra={"X-Request-Id": probe})
    time.sleep(1.0)
    for path in live.log_paths():
        with open(path, "rb") as f:
            if probe.encode() in f.read():
                return False
    return True
