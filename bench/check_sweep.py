"""Batched CHECK sweep vs. a per-resource CHECK, for N resources on one PostgreSQL instance.

Usage: .venv/bin/python bench/check_sweep.py [-n 10000] [--databases 100]
                                             [--admin-url postgresql://...]

Everything printed is measured, nothing scaled: --databases real resources (database and
login each; a database costs ~7.5 MB and ~0.3 s to make, so 10,000 would need ~75 GB),
among N records in the app database and N real login roles on the server (the catalog's
pg_roles at that size). The sweep is timed end to end (sweeps.sweep: selection, one
catalog query, bulk UPDATE, summary audit) over the --databases resources, and the
per-resource CHECK (the operation runner's, admin queries plus a login as each tenant, as
check_resources did before the sweep) over the same resources, one after the other.
Raise --databases to measure at a larger size. Everything made on the server carries a
prefix of this run's own and is dropped at the end, whatever happened; the run fails if
anything is left. The app database is a throwaway SQLite file (or DATABASE_URL when set).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.deployed import deployed_settings  # noqa: E402
from bench.leftovers import dropped_afterwards, run_prefix  # noqa: E402

PREFIX = run_prefix()


def setup_django(data_dir: str, admin_url: str) -> None:
    os.environ["RM_PROVIDERS"] = json.dumps(
        [{"key": "bench-pg", "url": admin_url, "options": {"name_prefix": PREFIX}}]
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    for name, value in deployed_settings().items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("RM_DATA_DIR", data_dir)
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # one INFO line per CHECK otherwise
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000, help="records and login roles")
    parser.add_argument("--databases", type=int, default=100, help="real databases")
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "RM_BENCH_POSTGRESQL_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    if not 0 < args.databases <= args.n:
        parser.error("need 0 < --databases <= -n")
    with tempfile.TemporaryDirectory() as data_dir, dropped_afterwards(args.admin_url, PREFIX):
        setup_django(data_dir, args.admin_url)
        run(args.n, args.databases, args.admin_url)


def run(count: int, databases: int, admin_url: str) -> None:
    import psycopg
    from psycopg import sql

    from providers.adapters.naming import new_backend_name, new_password
    from providers.services import sync_declared_providers
    from resourcemanager.resources import resource_runs, sweeps
    from resourcemanager.resources.models import Resource

    (provider,) = sync_declared_providers()
    adapter = provider.adapter()
    names = [new_backend_name(PREFIX) for _ in range(count)]
    full, roles_only = names[:databases], names[databases:]
    started = time.perf_counter()
    credentials = {name: adapter.create(name, new_password(), {}) for name in full}
    with psycopg.connect(admin_url) as conn:  # one transaction for the roles
        for name in roles_only:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
    # Fixture rows as CREATE leaves them, straight into the table: a seed, not a path.
    Resource.objects.bulk_create(
        Resource(scope="bench" if name in credentials else "bench-roles-only",
                 provider=provider, type="sql", name=f"r{i}", backend_name=name,
                 status=Resource.Status.READY,
                 credentials=(credentials.get(name) or adapter.credentials(name, "x"))
                 .as_dict())
        for i, name in enumerate(names)
    )
    print(f"setup: {count} records, {count} login roles, {databases} databases "
          f"(prefix {PREFIX}) in {time.perf_counter() - started:.1f} s")

    catalog = []
    for _ in range(5):
        start = time.perf_counter()
        healthy = sweeps.healthy_names(adapter, names)
        catalog.append(time.perf_counter() - start)
    assert healthy == set(full), "the catalog should find exactly the full resources"

    swept = []
    for _ in range(5):
        start = time.perf_counter()
        report = sweeps.sweep(scope="bench", repair=False)
        swept.append(time.perf_counter() - start)
        assert report.as_dict()["ok"] == databases, report.as_dict()
    ids = list(Resource.objects.filter(scope="bench").values_list("pk", flat=True))
    started = time.perf_counter()
    for resource_id in ids:
        resource_runs.run_operation(str(resource_id), "check", actor="bench", repair=False)
    naive = time.perf_counter() - started
    assert Resource.objects.filter(pk__in=ids, last_check_ok=True).count() == databases

    sweep = statistics.median(swept)
    print(f"PostgreSQL at {provider.host}:{provider.port}; all figures measured")
    print(f"catalog query alone ({count} roles, {databases} dbs)  "
          f"p50 {statistics.median(catalog) * 1000:8.1f} ms")
    print(f"batched sweep, {databases} resources              "
          f"p50 {sweep * 1000:8.1f} ms   ({sweep / databases * 1e6:.0f} µs each, 5 runs)")
    print(f"per-resource CHECK, {databases} resources         "
          f"{naive * 1000:8.1f} ms   ({naive / databases * 1000:.1f} ms each)")
    print(f"ratio: batched sweep is {naive / sweep:.0f}x faster at {databases} resources")


if __name__ == "__main__":
    main()
