"""Credentials on a PostgreSQL that checks passwords: rotation under load, REVOKE to a
dead session, and ISSUE against the same DDL run directly.

Usage: .venv/bin/python bench/rotation.py [--rotations 100] [--interval 0.5] [--grace 5]
           [--rate 50] [--refresh 1] [--revokes 20] [-n 50] [--profile]

Real: a throwaway scram-sha-256 cluster of this run (bench/scram.py: every password is
checked) managed by its least-privilege admin, and a throwaway app database on the local
PostgreSQL (``RM_BENCH_POSTGRESQL_URL``). Tasks run in-process, as without a broker: each
request's backend work is part of what is timed. Printed:

- rotation under load: ``--rotations`` rotations of one read-write credential, one every
  ``--interval`` seconds with ``--grace``, the sweep called as time passes (as beat would)
  to drop the replaced logins. Meanwhile client threads open ``--rate`` connections a
  second, each with the secret a client last read from the credential's stored secret (as
  consumers deliver it), re-read every ``--refresh`` seconds, run ``SELECT 1`` and close.
  Goal: no authentication failure while the refresh is shorter than the grace.
- REVOKE to a dead session: a session open with a credential, the credential revoked, the
  time until that session's next query fails (polled every 5 ms); p50/p99 (goal p99 ≤ 5 s).
- ISSUE: ``issue_credential`` end to end, as a request runs it until its answer (what a
  request leaves until after the answer, its audit seal and its event's handlers, is not
  timed), against
  ``CREATE ROLE … LOGIN PASSWORD …; GRANT <group> TO …`` with psycopg, on a new admin
  connection each (as the service's adapter does) and on one kept open; medians and
  ratios (goal ≤ 1.3x against the former), and how much of the service's time the
  adapter's ``add_login`` and the app database's statements take, and how many these are
  (``--profile``: cProfile's account of 20 more).

Everything made on either server carries a prefix of this run's own and is dropped at the
end, whatever happened; the run fails if anything is left.
"""

from __future__ import annotations

import argparse
import cProfile
import multiprocessing
import os
import pstats
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.leftovers import dropped_afterwards, run_prefix  # noqa: E402
from bench.scram import (  # noqa: E402
    admin_connect,
    login,
    setup_app,
    superuser_url,
    throwaway_cluster,
)
from tests.support.pgcluster import ScramCluster  # noqa: E402

PREFIX = run_prefix()
SCOPE = "bench"
CLIENT_THREADS = 10
#: The server refused the login: a wrong password, or a login dropped meanwhile.
_REFUSED = re.compile(r"password authentication failed|role \".*\" does not exist")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rotations", type=int, default=100, help="0 skips this part")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between them")
    parser.add_argument("--grace", type=int, default=5)
    parser.add_argument("--rate", type=float, default=50, help="client connections a second")
    parser.add_argument("--refresh", type=float, default=1,
                        help="seconds a client uses a secret before reading it again")
    parser.add_argument("--revokes", type=int, default=20)
    parser.add_argument("-n", type=int, default=50, help="ISSUEs, and direct DDL runs")
    parser.add_argument("--profile", action="store_true", help="cProfile 20 more ISSUEs")
    parser.add_argument("--app-url", default=os.environ.get(
        "RM_BENCH_POSTGRESQL_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir, dropped_afterwards(args.app_url, PREFIX), \
            throwaway_cluster() as cluster, dropped_afterwards(superuser_url(cluster), PREFIX):
        setup_app(args.app_url, cluster, data_dir, PREFIX)
        run(args, cluster)


def percentile(samples: list[float], q: int) -> float:
    if len(samples) < 2:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def run(args: argparse.Namespace, cluster: ScramCluster) -> None:
    from django.db import connections

    from providers.services import sync_declared_providers
    from resourcemanager.identity.roles import Principal, Role
    from resourcemanager.resources import services

    (provider,) = sync_declared_providers()
    principal = Principal(name="bench", roles={SCOPE: frozenset({Role.RESOURCE_ADMIN})})
    request = services.prepare_resource(principal, SCOPE, provider=provider.key, name="orders")
    resource = services.create_resource(principal, request)
    resource.refresh_from_db()
    if resource.status != resource.Status.READY:
        sys.exit(f"the resource ended {resource.status}: {resource.status_message}")
    print(f"PostgreSQL {cluster.host}:{cluster.port} (scram-sha-256), resource "
          f"{resource.backend_name}, tasks in-process")
    try:
        if args.rotations:  # 0 skips a part
            rotation_under_load(args, principal, resource, cluster)
        if args.revokes:
            revoke_to_dead_session(args, principal, resource)
        if args.n:
            issue_against_direct_ddl(args, principal, resource, cluster)
    finally:
        services.delete_resource(principal, resource)
        connections.close_all()


# -- rotation under load --------------------------------------------------------------------


@dataclass
class ClientTally:
    attempts: int = 0
    auth_failures: int = 0
    other_failures: int = 0
    seconds: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, seconds: float, error: psycopg.Error | None) -> None:
        self.attempts += 1
        self.seconds.append(seconds)
        if error is None:
            return
        text = str(error).strip().splitlines()[-1][:120]
        self.errors[text] = self.errors.get(text, 0) + 1
        if _REFUSED.search(str(error)):
            self.auth_failures += 1
        else:
            self.other_failures += 1


def clients(credential_id: object, args: argparse.Namespace, started: float,
            stop: Any, results: Any) -> None:
    """The client applications (a process of their own, as they would be): threads
    opening ``args.rate`` connections a second between them, with the secret each last
    read; the tally goes to ``results`` once ``stop`` is set."""
    from django.db import connection

    from resourcemanager.resources.models import Credential

    def published() -> dict[str, Any]:
        """The credential's current secret, as consumers read and deliver it."""
        return Credential.objects.values_list("secret", flat=True).get(pk=credential_id)

    tally, lock = ClientTally(), threading.Lock()

    def client(index: int) -> None:
        secret, read_at = published(), time.monotonic()
        try:
            for slot in range(index, 10**9, CLIENT_THREADS):
                if stop.wait(max(0.0, started + slot / args.rate - time.monotonic())):
                    return
                if time.monotonic() - read_at >= args.refresh:
                    secret, read_at = published(), time.monotonic()
                begin, error = time.perf_counter(), None
                try:
                    with login(secret) as conn:
                        conn.execute("SELECT 1")
                except psycopg.Error as exc:
                    error = exc
                with lock:
                    tally.add(time.perf_counter() - begin, error)
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENT_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(tally)


def rotation_under_load(args: argparse.Namespace, principal: Any, resource: Any,
                        cluster: ScramCluster) -> None:
    from django.db import connections

    from resourcemanager.resources.credential_sweeps import sweep_credentials
    from resourcemanager.resources.credentials import issue_credential, rotate_credential
    from resourcemanager.resources.models import Credential

    credential, _ = issue_credential(principal, resource, holder="app", access="read-write")
    context = multiprocessing.get_context("fork")
    stop, results = context.Event(), context.Queue()
    started = time.monotonic() + 1  # the clients' first connection, once they are up
    connections.close_all()  # the client process opens its own
    process = context.Process(target=clients, args=(credential.pk, args, started, stop,
                                                    results))
    process.start()
    rotate_seconds: list[float] = []
    try:
        sweep_until(started + args.interval, sweep_credentials)
        for number in range(args.rotations):
            begin = time.perf_counter()
            credential, _ = rotate_credential(principal, credential, grace=args.grace)
            rotate_seconds.append(time.perf_counter() - begin)
            credential.refresh_from_db()
            if credential.status != Credential.Status.ACTIVE:
                sys.exit(f"rotation {number + 1} ended {credential.status}: "
                         f"{credential.status_message}")
            sweep_until(started + (number + 2) * args.interval, sweep_credentials)
    finally:
        stop.set()
        tally = results.get(timeout=60)
        process.join(30)
    elapsed = time.monotonic() - started
    sweep_until(time.monotonic() + args.grace + 1, sweep_credentials)
    credential.refresh_from_db()
    logins = live_logins(cluster, resource.backend_name)
    print(f"\nrotation under load: {args.rotations} rotations every {args.interval:g} s, "
          f"grace {args.grace} s, clients re-read the secret every {args.refresh:g} s")
    print(f"  rotate (request + in-process run) p50 "
          f"{statistics.median(rotate_seconds) * 1000:.1f} ms   p99 "
          f"{percentile(rotate_seconds, 99) * 1000:.1f} ms")
    print(f"  connections attempted {tally.attempts} in {elapsed:.1f} s "
          f"({tally.attempts / elapsed:.1f}/s), connect+SELECT 1 p50 "
          f"{statistics.median(tally.seconds) * 1000:.1f} ms")
    print(f"  auth failures {tally.auth_failures}   other failures {tally.other_failures}")
    for text, count in sorted(tally.errors.items(), key=lambda item: -item[1]):
        print(f"    {count} x {text}")
    print(f"  replaced logins left after the grace: {len(logins) - 1} "
          f"(logins of the credential on the server: {len(logins)}, retiring "
          f"{len(credential.retiring)})")


def sweep_until(deadline: float, sweep: Callable[[], int], every: float = 0.25) -> None:
    """Call the sweep as time passes, up to ``deadline`` (monotonic)."""
    while time.monotonic() < deadline:
        sweep()
        time.sleep(max(0.0, min(every, deadline - time.monotonic())))


def live_logins(cluster: ScramCluster, backend_name: str) -> list[str]:
    """The credential logins of the resource on the server (groups and owner aside)."""
    from providers.adapters.naming import is_login_of

    with cluster.superuser_connect() as conn:
        rows = conn.execute("SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s)",
                            (f"{backend_name}_",)).fetchall()
    return [name for (name,) in rows if is_login_of(name, backend_name)]


# -- REVOKE to a dead session -----------------------------------------------------------------


def revoke_to_dead_session(args: argparse.Namespace, principal: Any, resource: Any) -> None:
    from resourcemanager.resources.credentials import issue_credential, revoke_credential
    from resourcemanager.resources.models import Credential

    samples, refused = [], 0
    for number in range(args.revokes):
        credential, secret = issue_credential(principal, resource, holder=f"revoked-{number}",
                                              access="read-only")
        fields = secret.as_dict()
        ready, dead_at = threading.Event(), []

        def session(fields: dict[str, Any] = fields, ready: threading.Event = ready,
                    dead_at: list[float] = dead_at) -> None:
            with login(fields) as conn:
                ready.set()
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    try:
                        conn.execute("SELECT 1")
                    except psycopg.Error:
                        dead_at.append(time.perf_counter())
                        return
                    time.sleep(0.005)

        poller = threading.Thread(target=session, daemon=True)
        poller.start()
        if not ready.wait(10):
            sys.exit("the session did not open")
        begin = time.perf_counter()
        revoke_credential(principal, credential)
        poller.join(35)
        if not dead_at:
            sys.exit(f"revocation {number + 1}: the session was still alive after 30 s")
        samples.append(dead_at[0] - begin)
        if Credential.objects.get(pk=credential.pk).status != Credential.Status.REVOKED:
            sys.exit(f"revocation {number + 1} did not end revoked")
        try:
            login(fields).close()
        except psycopg.OperationalError:
            refused += 1
    print(f"\nREVOKE → open session ended ({args.revokes} times; tasks in-process, "
          "session polled every 5 ms)")
    print(f"  p50 {statistics.median(samples) * 1000:.1f} ms   p99 "
          f"{percentile(samples, 99) * 1000:.1f} ms   max {max(samples) * 1000:.1f} ms   "
          f"(goal p99 ≤ 5 s); new logins refused afterwards {refused}/{args.revokes}")


# -- ISSUE against the same DDL direct --------------------------------------------------------


def issue_against_direct_ddl(args: argparse.Namespace, principal: Any, resource: Any,
                             cluster: ScramCluster) -> None:
    from django.db import connection
    from django.http import HttpResponse
    from django.test import RequestFactory

    from audit.middleware import SealOncePerRequestMiddleware
    from providers.adapters.naming import new_login_name, new_password
    from providers.adapters.postgresql import PostgreSQLAdapter
    from resourcemanager.resources.credentials import issue_credential
    from resourcemanager.resources.models import Credential
    from resourcemanager.telemetry.after_answer import AfterAnswerMiddleware

    request = RequestFactory().post("/")
    group = sql.Identifier(f"{resource.backend_name}_rw")  # made by the first rw credential
    in_adapter: list[float] = []
    in_app_db: list[float] = []
    statements: list[int] = []
    add_login = PostgreSQLAdapter.add_login
    timed_statement = adding_time(in_app_db, lambda execute, *call: execute(*call))

    def on_app_db(execute: Callable[..., Any], *call: Any) -> Any:
        statements[-1] += 1
        return timed_statement(execute, *call)

    def service(number: int) -> float:
        """The ISSUE as a request runs it: through the middlewares that leave work until
        after the answer (the audit seal, the event's handlers), which is not timed."""
        issued: list[Any] = []

        def view(request: Any) -> HttpResponse:
            issued.append(issue_credential(principal, resource, holder=f"issued-{number}",
                                           access="read-write")[0])
            return HttpResponse(status=202)

        in_adapter.append(0.0)
        in_app_db.append(0.0)
        statements.append(0)
        begin = time.perf_counter()
        with connection.execute_wrapper(on_app_db):
            answer = AfterAnswerMiddleware(SealOncePerRequestMiddleware(view))(request)
        seconds = time.perf_counter() - begin
        answer.close()  # delivered: the work left until now runs
        status = Credential.objects.values_list("status", flat=True).get(pk=issued[0].pk)
        if status != Credential.Status.ACTIVE:
            sys.exit(f"ISSUE {number + 1} ended {status}")
        return seconds

    def direct(conn: psycopg.Connection) -> float:
        role = sql.Identifier(new_login_name(resource.backend_name))
        begin = time.perf_counter()
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}")
                     .format(role, sql.Literal(new_password())))
        conn.execute(sql.SQL("GRANT {} TO {}").format(group, role))
        return time.perf_counter() - begin

    def direct_connecting() -> float:
        begin = time.perf_counter()
        with admin_connect(cluster) as conn:
            direct(conn)
        return time.perf_counter() - begin

    service_s, connecting_s, open_s = [], [], []
    PostgreSQLAdapter.add_login = adding_time(in_adapter, add_login)  # type: ignore
    try:
        with admin_connect(cluster) as kept:
            for number in range(args.n):  # interleaved: drift hits all three alike
                service_s.append(service(number))
                connecting_s.append(direct_connecting())
                open_s.append(direct(kept))
    finally:
        PostgreSQLAdapter.add_login = add_login  # type: ignore[method-assign]
    medians = [statistics.median(each) * 1000 for each in
               (service_s, connecting_s, open_s, in_adapter, in_app_db)]
    print(f"\nISSUE ({args.n} each, read-write)")
    print(f"  issue_credential (end to end)          p50 {medians[0]:7.1f} ms   of which "
          f"add_login {medians[3]:.1f} ms, app database statements {medians[4]:.1f} ms "
          f"({statistics.median(statements):.0f} of them)")
    print(f"  CREATE ROLE + GRANT, new connection    p50 {medians[1]:7.1f} ms")
    print(f"  CREATE ROLE + GRANT, open connection   p50 {medians[2]:7.1f} ms")
    print(f"  ratio {medians[0] / medians[1]:.2f}x against a new connection (goal ≤ 1.3x), "
          f"{medians[0] / medians[2]:.2f}x against an open one")
    if args.profile:
        profile_issue(principal, resource, issue_credential)


def adding_time(samples: list[float], fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, adding the seconds each call takes to the last of ``samples``."""
    def timed(*call: Any, **named: Any) -> Any:
        begin = time.perf_counter()
        try:
            return fn(*call, **named)
        finally:
            samples[-1] += time.perf_counter() - begin
    return timed


def profile_issue(principal: Any, resource: Any, issue: Callable[..., Any]) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for number in range(20):
        issue(principal, resource, holder=f"profiled-{number}", access="read-write")
    profiler.disable()
    print("\nwhere 20 ISSUEs spend their time (cumulative, top 25):")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
