"""Cost of scoping: an authenticated, scoped resource list vs. a bare DRF list of the same page.

Usage: .venv/bin/python bench/api_list.py [--scopes 1000] [--per-scope 100] [-n 200]

Seeds SCOPES x PER_SCOPE resources into a PostgreSQL app database of this run's own, on the
server of RM_BENCH_DATABASE_URL (default postgres://postgres:postgres@127.0.0.1:5432/;
its database name is ignored), dropped at the end whatever happened (the run fails if it
cannot be),
analyzes the table (as autovacuum would have by then) and requests page 1 (50 rows) of
one scope through /api/c/<scope>/resources with a personal API token, and the same page
from a bare ListAPIView (no authentication, no access layer, the scope filtered by hand)
with the same query otherwise: live resources only (the list's default), the same
ordering, serializer and pagination. Prints p50/p99 latency and SQL queries per request
for both, the ratio, and each page query's plan (top node) and execution time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.leftovers import dropped_afterwards, run_prefix  # noqa: E402

DEFAULT_URL = "postgres://postgres:postgres@127.0.0.1:5432/"
PREFIX = run_prefix()


def setup(admin_url: str, database_url: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(
            sql.Identifier(database_url.rsplit("/", 1)[1])))
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("RM_ACCESS_LOG", "false")  # both sides measured without it
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ["ALLOWED_HOSTS"] = "testserver"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def seed(scopes: int, per_scope: int) -> None:
    """Bulk rows straight into the table: a fixture for reads, not a lifecycle path."""
    from providers.models import Provider
    from resourcemanager.resources.models import Resource

    provider = Provider.objects.create(
        key="bench", provider_class="postgresql", host="127.0.0.1", port=5432, username="x"
    )
    started = time.perf_counter()
    for scope_number in range(scopes):
        scope = f"scope-{scope_number:04d}"
        Resource.objects.bulk_create(
            Resource(
                id=uuid.uuid4(), scope=scope, provider=provider, type="sql",
                name=f"db-{i}", backend_name=f"rm_{scope_number:04d}x{i:07d}",
                status="ready", tags=["bench", f"t{i % 10}"],
            )
            for i in range(per_scope)
        )
    print(f"seeded {scopes * per_scope} resources in {time.perf_counter() - started:.1f} s")
    from django.db import connection

    with connection.cursor() as cursor:  # the planner's statistics, as autovacuum keeps them
        cursor.execute(f"VACUUM (ANALYZE) {Resource._meta.db_table}")


def measure(client, path: str, count: int, **headers) -> tuple[list[float], set[int], str]:
    """Timings, query counts, and the page query of the last request."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    timings, query_counts = [], set()
    for _ in range(count):
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            response = client.get(path, **headers)
            timings.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.content[:300]
        assert len(response.json()["results"]) == 50
        query_counts.add(len(queries))
    page = next(q["sql"] for q in reversed(queries.captured_queries) if "LIMIT" in q["sql"])
    return timings, query_counts, page


def report(label: str, timings: list[float], queries: set[int], page: str) -> float:
    from django.db import connection

    p50 = statistics.median(timings)
    p99 = statistics.quantiles(timings, n=100)[-1]
    print(f"{label:<28} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   queries/request {sorted(queries)}")
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN ANALYZE {page}")
        plan = [row[0] for row in cursor.fetchall()]
    nodes = [line.split("  (")[0].strip(" ->") for line in plan if "(cost=" in line]
    print(f"  page query: {' > '.join(nodes[:4])}; {plan[-1].strip()}")
    return p50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scopes", type=int, default=1000)
    parser.add_argument("--per-scope", type=int, default=100)
    parser.add_argument("-n", type=int, default=200)
    args = parser.parse_args()
    server = os.environ.get("RM_BENCH_DATABASE_URL", DEFAULT_URL).rsplit("/", 1)[0]
    admin_url = server.replace("postgres://", "postgresql://", 1) + "/postgres"
    with dropped_afterwards(admin_url, PREFIX):
        setup(admin_url, f"{server}/{PREFIX}app")
        bench(args)


def bench(args: argparse.Namespace) -> None:
    seed(args.scopes, args.per_scope)

    from django.contrib.auth import get_user_model
    from django.test import Client, override_settings
    from django.urls import include, path
    from rest_framework.generics import ListAPIView
    from rest_framework.permissions import AllowAny

    from resourcemanager.api.serializers import ResourceSerializer
    from resourcemanager.identity.models import ScopeRole
    from resourcemanager.identity.roles import Role
    from resourcemanager.identity.tokens import issue_token
    from resourcemanager.resources.models import Resource

    scope = f"scope-{args.scopes // 2:04d}"

    class BareList(ListAPIView):
        authentication_classes = ()
        permission_classes = (AllowAny,)
        serializer_class = ResourceSerializer
        queryset = Resource.objects.filter(scope=scope).live().select_related("provider")

    urls = type("urls", (), {"urlpatterns": [
        path("bare/", BareList.as_view()), path("", include("config.urls"))
    ]})
    user = get_user_model().objects.create_user("bench")
    ScopeRole.objects.create(user=user, scope=scope, role=Role.USER)
    _, token = issue_token(user, "bench", expires_in_days=1)
    client = Client()
    with override_settings(ROOT_URLCONF=urls):
        for _ in range(10):  # warm up connections and caches
            client.get("/bare/")
            client.get(f"/api/c/{scope}/resources", HTTP_AUTHORIZATION=f"Bearer {token}")
        scoped = measure(client, f"/api/c/{scope}/resources", args.n,
                         HTTP_AUTHORIZATION=f"Bearer {token}")
        bare = measure(client, "/bare/", args.n)
    print(f"{args.scopes} scopes x {args.per_scope} resources, page of 50, {args.n} requests")
    scoped_p50 = report("scoped, authenticated list", *scoped)
    bare_p50 = report("bare DRF list, same page", *bare)
    print(f"ratio (p50)                  {scoped_p50 / bare_p50:.2f}x")


if __name__ == "__main__":
    main()
