"""The data every target serves: 1,000 published posts seeded by the app
itself (`app seed`, whose drafts are then published through the API), a
bearer token, the slugs, and copies of it all for each measurement.

SQLite: one master file, copied (SQLite's backup API) for every cell.
PostgreSQL: one private template database, cloned for every cell and
dropped after it; the suite creates and drops its databases itself and
never touches anything else on the server.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import urllib.parse
from dataclasses import dataclass

from harness.procs import SuiteError, call_json, free_port, stop, wait_http_ok

ADMIN = re.compile(r"^\s+(\S+@\S+)\s+(\S+)\s+\(admin\)\s*$", re.M)


@dataclass
class Dataset:
    """Seeded data of one backend and how to reach it."""

    backend: str  # "sqlite" or "postgres"
    token: str  # a bearer token of the seed's admin, valid in every copy
    slugs_file: str  # one published post's slug per line
    slugs: list
    sqlite_master: str | None = None
    pg_admin_url: str | None = None
    pg_template: str | None = None


def start_app(release: str, env: dict, port: int, log_path: str,
              threads: int | None = None) -> subprocess.Popen:
    """`app serve` alone on 127.0.0.1:port, its log lines into `log_path`."""
    env = dict(env, APP_LISTEN=f"127.0.0.1:{port}")
    for key in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET"):
        env.pop(key, None)
    if threads is not None:
        env["APP_THREADS"] = str(threads)
    with open(log_path, "ab") as log:
        return subprocess.Popen([os.path.join(release, "app"), "serve"], env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)


def copy_sqlite(master: str, dest: str) -> None:
    """A consistent copy of the master file (WAL or not) at `dest`."""
    src = sqlite3.connect(master)
    dst = sqlite3.connect(dest)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def database_url(admin_url: str, name: str) -> str:
    """`admin_url` with its database replaced by `name`.

    >>> database_url("postgres://postgres@127.0.0.1:5432/test", "bench_1")
    'postgres://postgres@127.0.0.1:5432/bench_1'
    """
    parts = urllib.parse.urlsplit(admin_url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


def psql(admin_url: str, sql: str) -> None:
    """Runs one statement on the maintenance database of `admin_url`."""
    done = subprocess.run(["psql", admin_url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SuiteError(f"psql on {admin_url} failed running {sql!r}: {done.stderr.strip()}; "
                         "check that PostgreSQL is reachable and the user may create databases")


def pg_clone(admin_url: str, template: str, name: str) -> str:
    """A fresh database `name` copied from `template`; returns its URL."""
    psql(admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return database_url(admin_url, name)


def pg_drop(admin_url: str, name: str) -> None:
    """Drops a database the suite made (its connections first)."""
    psql(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(release: str, work: str, database_url_: str, backend: str, posts: int) -> tuple[str, list]:
    """`app seed --posts N`, then publish its drafts through the API as the
    admin: returns the admin's token and every published slug."""
    env = dict(os.environ, DATABASE_URL=database_url_, APP_LOG="warn")
    done = subprocess.run([os.path.join(release, "app"), "seed", "--posts", str(posts)],
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SuiteError(f"`app seed` on {backend} failed: {done.stderr.strip()[-500:]}")
    admin = ADMIN.search(done.stdout)
    if not admin:
        raise SuiteError(f"`app seed` printed no admin credentials: {done.stdout[:300]!r}")
    port = free_port()
    app = start_app(release, env, port, os.path.join(work, f"seed-{backend}.log"))
    try:
        wait_http_ok(port, "/health", app)
        login = call_json(port, "POST", "/api/auth/login",
                          {"email": admin.group(1), "password": admin.group(2)})
        token = login["data"]["token"]
        while True:
            drafts = call_json(port, "GET", "/api/posts?status=draft&limit=100", token=token)["data"]
            if not drafts:
                break
            for post in drafts:
                call_json(port, "PATCH", f"/api/posts/{post['id']}", {"status": "published"}, token)
        slugs = []
        for page in range(1, posts // 100 + 2):
            listed = call_json(port, "GET", f"/api/posts?limit=100&page={page}")
            slugs += [p["slug"] for p in listed["data"]]
        if len(slugs) != posts:
            raise SuiteError(f"expected {posts} published posts on {backend}, the API lists {len(slugs)}")
        return token, slugs
    finally:
        stop(app)


def seed_sqlite(release: str, work: str, posts: int) -> Dataset:
    """The SQLite master and its dataset."""
    master = os.path.join(work, "master.db")
    token, slugs = seed(release, work, f"sqlite://{master}", "sqlite", posts)
    # Fold the WAL into the file so plain readers (the baseline's import) see it all.
    with sqlite3.connect(master) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return Dataset("sqlite", token, write_slugs(work, "sqlite", slugs), slugs, sqlite_master=master)


def seed_postgres(release: str, work: str, posts: int, admin_url: str) -> Dataset:
    """A private template database on PostgreSQL and its dataset."""
    template = f"corral_bench_{os.getpid()}_seed"
    pg_drop(admin_url, template)
    psql(admin_url, f'CREATE DATABASE "{template}"')
    token, slugs = seed(release, work, database_url(admin_url, template), "postgres", posts)
    return Dataset("postgres", token, write_slugs(work, "postgres", slugs), slugs,
                   pg_admin_url=admin_url, pg_template=template)


def write_slugs(work: str, backend: str, slugs: list) -> str:
    path = os.path.join(work, f"slugs-{backend}.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(slugs) + "\n")
    return path
