"""Provisioning overhead: CREATE, DELETE and a credential's ISSUE through the HTTP API to
the end state, against the same DDL run directly, on PostgreSQL and MariaDB, in one run.

Usage: .venv/bin/python bench/provision.py [-n 20] [--backends postgresql,mysql]
                                           [--redis-url redis://127.0.0.1:6379/12]
                                           [--requests 1000] [--profile FILE]

The API path is the deployed one: gunicorn serving the app, a ``celery worker`` (prefork)
over Redis, a PostgreSQL app database of the run's own. One resource at a time: ``POST
/api/c/bench/resources`` with a personal API token, then the resource's row is watched
(every millisecond, on a connection of its own) until ``ready``; ``DELETE`` likewise
until ``deleted``. Each is split where the row shows it: *request* (the HTTP answer: auth,
validation, the transaction with audit and outbox rows, publishing to Redis), *pickup*
(answer to the worker's claim of the operation's lease: the queue and the task's start)
and *run* (claim to the recorded outcome: the adapter's connection to the server, its
DDL, and the claim and record transactions with encryption, audit and event rows). The
direct path opens a connection as the adapter does and runs the adapter's statements with
the same driver; its connect and DDL are timed apart, so *run* minus both is the worker's
own bookkeeping. The servers are the local ones (``RM_BENCH_POSTGRESQL_URL``,
``RM_BENCH_MYSQL_URL``); everything made on them carries a prefix of this run's own and is
dropped at the end, whatever happened (the run fails if anything is left). ISSUE: ``-n``
read-write credentials on one resource, ``POST …/credentials`` until the credential is
``active``, split likewise, against a login made and granted its access by hand on a new
connection (PostgreSQL: ``CREATE ROLE … LOGIN PASSWORD``, ``GRANT <group>``; MariaDB:
``CREATE USER``, ``GRANT … ON <db>.*``). The Redis
database must be empty and is emptied at the end. Last, ``--requests`` more API reads,
then the largest web worker's resident memory. ``--profile``: one worker process (the solo
pool) under cProfile, and where its CPU time went.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pymysql
import requests
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import stack  # noqa: E402
from bench.leftovers import dropped_afterwards, run_prefix  # noqa: E402

PREFIX = run_prefix()
PG_URL = os.environ.get("RM_BENCH_POSTGRESQL_URL",
                        "postgresql://postgres:postgres@127.0.0.1:5432/postgres")
MYSQL_URL = os.environ.get("RM_BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306")
KEYS = {"postgresql": "bench-pg", "mysql": "bench-mysql"}
LABELS = {"postgresql": "PostgreSQL", "mysql": "MariaDB"}


def mysql_args() -> dict[str, object]:
    parts = urlsplit(MYSQL_URL)
    return {"host": parts.hostname, "port": parts.port or 3306, "user": parts.username,
            "password": parts.password or ""}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20, help="resources per backend")
    parser.add_argument("--backends", default="postgresql,mysql")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    parser.add_argument("--requests", type=int, default=1000,
                        help="API requests before the web workers' memory is read")
    parser.add_argument("--profile", metavar="FILE",
                        help="run one worker process under cProfile, keep its statistics "
                        "in FILE and print where its CPU time goes")
    args = parser.parse_args()
    backends = args.backends.split(",")
    with stack.empty_redis(args.redis_url), dropped_afterwards(
            stack.ADMIN_URL, PREFIX, mysql_args() if "mysql" in backends else None):
        run(args, backends)


def run(args: argparse.Namespace, backends: list[str]) -> None:
    urls = {"postgresql": PG_URL, "mysql": MYSQL_URL}
    env = stack.django_env(PREFIX, args.redis_url, RM_PROVIDERS=json.dumps([
        {"key": KEYS[backend], "url": urls[backend], "options": {"name_prefix": PREFIX}}
        for backend in backends]))
    token = setup()
    try:
        with stack.web(env, args.web_workers) as (base, web), \
                stack.worker(env, 1 if args.profile else args.concurrency, args.profile), \
                psycopg.connect(env["DATABASE_URL"], autocommit=True) as watcher:
            api = Api(base, token, watcher)
            print(f"{args.n} resources per backend, one at a time; gunicorn "
                  f"{args.web_workers} workers, celery {args.concurrency} processes, Redis")
            for backend in backends:
                api.lifecycle(KEYS[backend], "warm-up")  # imports, connections, caches
                through_api = [api.lifecycle(KEYS[backend], f"r{i}") for i in range(args.n)]
                direct = [DIRECT[backend](f"{PREFIX}raw{i:04d}") for i in range(args.n)]
                report(LABELS[backend], through_api, direct)
                issued = api.issues(KEYS[backend], args.n)
                direct = [ISSUE_DIRECT[backend](f"{PREFIX}login{i:04d}") for i in range(args.n)]
                report_issue(LABELS[backend], issued, direct)
            web_memory(api, web, KEYS[backends[0]], args.requests)
        if args.profile:
            stack.print_profile(args.profile)
    finally:
        from django.db import connections

        connections.close_all()


def setup() -> str:
    """The providers declared, and a RESOURCE_ADMIN of scope ``bench`` with a token."""
    from django.contrib.auth import get_user_model

    from providers.services import sync_declared_providers
    from resourcemanager.identity.models import ScopeRole
    from resourcemanager.identity.roles import Role
    from resourcemanager.identity.tokens import issue_token

    sync_declared_providers()
    user = get_user_model().objects.create_user("bench")
    ScopeRole.objects.create(user=user, scope="bench", role=Role.RESOURCE_ADMIN)
    return issue_token(user, "bench", expires_in_days=1)[1]


class Api:
    """CREATE and DELETE through the HTTP API, each split into request, pickup and run."""

    def __init__(self, base: str, token: str, watcher: psycopg.Connection) -> None:
        self.base = f"{base}/api/c/bench/resources"
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.watcher = watcher

    def lifecycle(self, provider: str, name: str) -> dict[str, float]:
        started = time.perf_counter()
        answer = self.http.post(self.base, json={"provider": provider, "name": name})
        assert answer.status_code == 201, answer.text
        resource_id = answer.json()["id"]
        times = {"create": self._phases(started, time.perf_counter(), resource_id, "ready")}
        started = time.perf_counter()
        answer = self.http.delete(f"{self.base}/{resource_id}")
        assert answer.status_code == 202, answer.text
        times["delete"] = self._phases(started, time.perf_counter(), resource_id, "deleted")
        return {f"{op} {phase}": value for op, phases in times.items()
                for phase, value in phases.items()}

    def issues(self, provider: str, count: int) -> list[dict[str, float]]:
        """``count`` read-write credentials ISSUEd one at a time on one resource (after one
        more to warm up), each to ``active``; the resource is deleted afterwards, its
        logins with it."""
        answer = self.http.post(self.base, json={"provider": provider, "name": "issuing"})
        assert answer.status_code == 201, answer.text
        resource_id = answer.json()["id"]
        self._phases(time.perf_counter(), time.perf_counter(), resource_id, "ready")
        times = [self._issue(resource_id, f"app-{number}") for number in range(count + 1)]
        assert self.http.delete(f"{self.base}/{resource_id}").status_code == 202
        self._phases(time.perf_counter(), time.perf_counter(), resource_id, "deleted")
        return times[1:]

    def _issue(self, resource_id: str, holder: str) -> dict[str, float]:
        started = time.perf_counter()
        answer = self.http.post(f"{self.base}/{resource_id}/credentials",
                                json={"holder": holder, "access": "read-write"})
        assert answer.status_code == 202, answer.text
        return self._phases(started, time.perf_counter(), resource_id, "active",
                            credential_id=answer.json()["id"])

    def _phases(self, started: float, answered: float, resource_id: str,
                end: str, credential_id: str | None = None) -> dict[str, float]:
        """Watch the resource (or its credential ``credential_id``) until its status is
        ``end``; the claim is when the resource's lease is taken (or the end)."""
        query = ("SELECT status, lease_id IS NOT NULL, status_message "
                 "FROM resourcemanager_resource WHERE id = %s", (resource_id,))
        if credential_id is not None:
            query = ("SELECT c.status, r.lease_id IS NOT NULL, c.status_message "
                     "FROM resourcemanager_credential c JOIN resourcemanager_resource r "
                     "ON r.id = c.resource_id WHERE c.id = %s", (credential_id,))
        claimed = None
        while True:
            status, leased, message = self.watcher.execute(*query).fetchone()
            now = time.perf_counter()
            if claimed is None and (leased or status == end):
                claimed = now
            if status == end:
                break
            if status == "error":
                sys.exit(f"{credential_id or resource_id} ended in error: {message}")
            time.sleep(0.001)
        return {"total": now - started, "request": answered - started,
                "pickup": claimed - answered, "run": now - claimed}


def web_memory(api: Api, web: subprocess.Popen, provider: str, requests_made: int) -> None:
    """The web workers' memory after ``requests_made`` more API requests: lists, reads of
    a resource made for them, filters, a refused one and a missing one, in turn."""
    answer = api.http.post(api.base, json={"provider": provider, "name": "read-me"})
    assert answer.status_code == 201, answer.text
    resource_id = answer.json()["id"]
    paths = ["", f"/{resource_id}", "?status=ready&page_size=50", "?page_size=abc",
             "/00000000-0000-0000-0000-000000000000"]
    for number in range(requests_made):
        api.http.get(api.base + paths[number % len(paths)])
    print(f"web: after {requests_made} more API requests, the largest gunicorn worker's "
          f"RSS {stack.largest_rss_mib(web):.0f} MiB (goal ≤ 150 MiB)")
    api._phases(time.perf_counter(), time.perf_counter(), resource_id, "ready")
    assert api.http.delete(f"{api.base}/{resource_id}").status_code == 202
    api._phases(time.perf_counter(), time.perf_counter(), resource_id, "deleted")


def timed(step: Callable[[], object]) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def postgresql_direct(name: str) -> dict[str, float]:
    """The PostgreSQL adapter's CREATE and DELETE statements, on a connection of their own
    each, as the adapter opens."""
    ident = sql.Identifier(name)
    statements = {
        "create": [sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                       ident, sql.Literal(f"pw-{name}")),
                   sql.SQL("CREATE DATABASE {} OWNER {}").format(ident, ident),
                   sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(ident)],
        "delete": [sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident),
                   sql.SQL("DROP ROLE IF EXISTS {}").format(ident)],
    }
    times = {}
    for op, steps in statements.items():
        started = time.perf_counter()
        conn = psycopg.connect(PG_URL, autocommit=True)
        times[f"{op} connect"] = time.perf_counter() - started
        with conn:
            times[f"{op} DDL"] = timed(lambda conn=conn, steps=steps: [
                conn.execute(step) for step in steps])
        times[f"{op} total"] = time.perf_counter() - started
    return times


def mysql_direct(name: str) -> dict[str, float]:
    """The MySQL adapter's CREATE and DELETE statements, likewise."""
    account = (name, "%")
    statements = {
        "create": [(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4", ()),
                   ("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (*account, f"pw-{name}")),
                   ("ALTER USER %s@%s IDENTIFIED BY %s", (*account, f"pw-{name}")),
                   (f"GRANT ALL PRIVILEGES ON `{name}`.* TO %s@%s", account)],
        "delete": [("DROP USER IF EXISTS %s@%s", account),
                   (f"DROP DATABASE IF EXISTS `{name}`", ())],
    }
    times = {}
    for op, steps in statements.items():
        started = time.perf_counter()
        conn = pymysql.connect(**mysql_args(), autocommit=True)
        times[f"{op} connect"] = time.perf_counter() - started
        try:
            with conn.cursor() as cur:
                times[f"{op} DDL"] = timed(lambda cur=cur, steps=steps: [
                    cur.execute(statement, args or None) for statement, args in steps])
        finally:
            conn.close()
        times[f"{op} total"] = time.perf_counter() - started
    return times


DIRECT = {"postgresql": postgresql_direct, "mysql": mysql_direct}


def postgresql_issue_direct(name: str) -> dict[str, float]:
    """What ISSUE asks of PostgreSQL, by hand: a login joining a group role (made once),
    on a connection of its own."""
    group = sql.Identifier(f"{PREFIX}group")
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DO $$ BEGIN CREATE ROLE {} NOLOGIN; "
                             "EXCEPTION WHEN duplicate_object THEN NULL; END $$").format(group))
    return _timed_steps(lambda: psycopg.connect(PG_URL, autocommit=True), lambda conn: [
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(name), sql.Literal(f"pw-{name}"))),
        conn.execute(sql.SQL("GRANT {} TO {}").format(group, sql.Identifier(name)))])


def mysql_issue_direct(name: str) -> dict[str, float]:
    """What ISSUE asks of MariaDB, by hand: an account with read-write grants on a
    database, on a connection of its own."""
    def steps(conn: pymysql.Connection) -> None:
        with conn.cursor() as cur:
            cur.execute("CREATE USER %s@%s IDENTIFIED BY %s", (name, "%", f"pw-{name}"))
            cur.execute(f"GRANT SELECT, SHOW VIEW, INSERT, UPDATE, DELETE ON `{PREFIX}db`.* "
                        "TO %s@%s", (name, "%"))
    return _timed_steps(lambda: pymysql.connect(**mysql_args(), autocommit=True), steps)


def _timed_steps(connect: Callable[[], object], steps: Callable[[object], object]
                 ) -> dict[str, float]:
    started = time.perf_counter()
    conn = connect()
    times = {"connect": time.perf_counter() - started}
    try:
        times["DDL"] = timed(lambda: steps(conn))
    finally:
        conn.close()
    times["total"] = time.perf_counter() - started
    return times


ISSUE_DIRECT = {"postgresql": postgresql_issue_direct, "mysql": mysql_issue_direct}


def report(label: str, through_api: list[dict[str, float]],
           direct: list[dict[str, float]]) -> None:
    line = _line
    print(f"{label}:")
    for op in ("create", "delete"):
        end = "ready" if op == "create" else "deleted"
        api = line(f"{op} via HTTP API to {end}", [t[f"{op} total"] for t in through_api])
        line("  request (answer)", [t[f"{op} request"] for t in through_api])
        line("  pickup (answer to claim)", [t[f"{op} pickup"] for t in through_api])
        run = line("  run (claim to outcome)", [t[f"{op} run"] for t in through_api])
        raw = line(f"{op} direct (connect + DDL)", [t[f"{op} total"] for t in direct])
        connect = line("  connect", [t[f"{op} connect"] for t in direct])
        ddl = line("  DDL", [t[f"{op} DDL"] for t in direct])
        print(f"  {op}: API / direct {api / raw:.2f}x (p50); the run beyond connect + DDL "
              f"{run - connect - ddl:.1f} ms, outside the run {api - run:.1f} ms")


def report_issue(label: str, through_api: list[dict[str, float]],
                 direct: list[dict[str, float]]) -> None:
    print(f"{label} ISSUE (read-write credentials, one at a time):")
    api = _line("issue via HTTP API to active", [t["total"] for t in through_api])
    _line("  request (answer)", [t["request"] for t in through_api])
    _line("  pickup (answer to claim)", [t["pickup"] for t in through_api])
    _line("  run (claim to outcome)", [t["run"] for t in through_api])
    raw = _line("login + grant direct (connect + DDL)", [t["total"] for t in direct])
    _line("  connect", [t["connect"] for t in direct])
    _line("  DDL", [t["DDL"] for t in direct])
    print(f"  issue: API / direct {api / raw:.2f}x (p50)")


def _line(title: str, samples: list[float]) -> float:
    p50 = statistics.median(samples) * 1000
    p95 = statistics.quantiles(samples, n=20)[-1] * 1000 if len(samples) > 1 else p50
    print(f"  {title:<36} p50 {p50:8.1f} ms   p95 {p95:8.1f} ms")
    return p50


if __name__ == "__main__":
    main()
