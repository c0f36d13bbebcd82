"""A throwaway PostgreSQL cluster that checks passwords (scram-sha-256), and the app set
up to manage it, for benches.

The cluster is the tests' own (``tests.support.pgcluster``), started for one run and
removed at its end; the run fails if it still holds anything made since its start.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from bench.deployed import deployed_settings
from tests.support.pgcluster import ScramCluster


@contextmanager
def throwaway_cluster() -> Iterator[ScramCluster]:
    """A scram cluster of this run; exits with status 1 naming what is left on it."""
    cluster = ScramCluster().start()
    try:
        yield cluster
        left = cluster.leftovers()
        if left:
            sys.exit(f"the bench left on the scram cluster: {', '.join(sorted(left))}")
    finally:
        cluster.stop()


def superuser_url(cluster: ScramCluster) -> str:
    return (f"postgresql://{cluster.superuser}:{cluster.superuser_password}@{cluster.host}:"
            f"{cluster.port}/postgres")


def admin_connect(cluster: ScramCluster) -> psycopg.Connection:
    """A connection as the cluster's least-privilege admin (CREATEDB CREATEROLE)."""
    return psycopg.connect(host=cluster.host, port=cluster.port, user=cluster.admin_user,
                           password=cluster.admin_password, dbname="postgres",
                           autocommit=True)


def login(fields: dict[str, Any], timeout: int = 5) -> psycopg.Connection:
    """A session with a credential's connection fields: the password is checked."""
    return psycopg.connect(host=fields["host"], port=fields["port"], user=fields["username"],
                           password=fields["password"], dbname=fields["database"],
                           autocommit=True, connect_timeout=timeout)


def setup_app(app_url: str, cluster: ScramCluster, data_dir: str, prefix: str) -> None:
    """Django on a new app database ``<prefix>app`` on the server of ``app_url``, tasks
    in-process, with the cluster as instance ``bench-scram`` naming with ``prefix``."""
    database = f"{prefix}app"
    with psycopg.connect(app_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    os.environ["DATABASE_URL"] = app_url.rsplit("/", 1)[0] + f"/{database}"
    os.environ["RM_PROVIDERS"] = json.dumps([{
        "key": "bench-scram", "class": "postgresql", "host": cluster.host,
        "port": cluster.port, "username": cluster.admin_user,
        "password": cluster.admin_password,
        "options": {"database": "postgres", "name_prefix": prefix}}])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    for name, value in deployed_settings().items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["RM_DATA_DIR"] = data_dir
    os.environ.pop("REDIS_URL", None)  # tasks in-process: the provider work is measured
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
