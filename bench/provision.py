"""Provisioning overhead: N PostgreSQL resources through the service vs. the same DDL direct.

Usage: .venv/bin/python bench/provision.py [-n 50] [--admin-url postgresql://...]

The service path is end to end: access check, validation, row + audit in one transaction,
the task run in-process on commit, the adapter's idempotent DDL, the outcome recorded with
credentials encrypted. The direct path runs the same DDL statements with psycopg. The app
database is a throwaway SQLite file (or DATABASE_URL when set). Everything made on the
server carries a prefix of this run's own and is dropped at the end, whatever happened;
the run fails if anything is left.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.leftovers import dropped_afterwards, run_prefix  # noqa: E402

PREFIX = run_prefix()


def setup_django(data_dir: str, admin_url: str) -> None:
    os.environ["RM_PROVIDERS"] = json.dumps(
        [{"key": "bench-pg", "url": admin_url, "options": {"name_prefix": PREFIX}}]
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("RM_DATA_DIR", data_dir)
    os.environ.pop("REDIS_URL", None)  # tasks in-process: the provider work is measured
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def summary(label: str, samples: list[float]) -> float:
    p50 = statistics.median(samples)
    p95 = statistics.quantiles(samples, n=20)[-1] if len(samples) > 1 else samples[0]
    print(f"{label:<26} p50 {p50:8.1f} ms   p95 {p95:8.1f} ms   n={len(samples)}")
    return p50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50)
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "RM_BENCH_POSTGRESQL_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir, dropped_afterwards(args.admin_url, PREFIX):
        setup_django(data_dir, args.admin_url)
        run(args.n, args.admin_url)


def run(count: int, admin_url: str) -> None:
    import psycopg
    from psycopg import sql

    from providers.adapters.naming import new_backend_name, new_password
    from providers.services import sync_declared_providers
    from resourcemanager.identity.roles import Principal, Role
    from resourcemanager.resources import services

    (provider,) = sync_declared_providers()
    principal = Principal(name="bench", roles={"bench": frozenset({Role.RESOURCE_ADMIN})})

    service_create, service_delete, resources = [], [], []
    for i in range(count):
        holder = {}

        def create(i=i, holder=holder):
            request = services.prepare_resource(
                principal, "bench", provider=provider.key, name=f"bench-{i}-{time.time_ns()}"
            )
            holder["resource"] = services.create_resource(principal, request)

        service_create.append(timed(create))
        resource = holder["resource"]
        resource.refresh_from_db()
        if resource.status != resource.Status.READY:
            sys.exit(f"resource {resource.name} ended {resource.status}: {resource.status_message}")
        resources.append(resource)
    for resource in resources:
        service_delete.append(timed(lambda r=resource: services.delete_resource(principal, r)))

    direct_create, direct_delete, names = [], [], []
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for _ in range(count):
            name = new_backend_name(PREFIX)
            names.append(name)
            ident = sql.Identifier(name)

            def create_direct(ident=ident):
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                        ident, sql.Literal(new_password())
                    )
                )
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(ident, ident))
                conn.execute(
                    sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(ident)
                )

            direct_create.append(timed(create_direct))
        for name in names:
            ident = sql.Identifier(name)

            def delete_direct(ident=ident):
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(ident))

            direct_delete.append(timed(delete_direct))

    print(f"PostgreSQL at {provider.host}:{provider.port}, {count} resources")
    created = summary("create via service", service_create)
    created_direct = summary("create direct DDL", direct_create)
    deleted = summary("delete via service", service_delete)
    deleted_direct = summary("delete direct DDL", direct_delete)
    print(f"overhead ratio (p50)       create {created / created_direct:.2f}x   "
          f"delete {deleted / deleted_direct:.2f}x")


if __name__ == "__main__":
    main()
