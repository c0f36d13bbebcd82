"""What a test session makes on the backend servers, and what it leaves behind.

The local MariaDB (and the machine's PostgreSQL) are shared with other test runs, so this
session tags what it makes there: every provider instance the fixtures declare generates
its names with ``NAME_PREFIX``, and ``tests.support.seeding.unique_prefix`` hands out
prefixes that start with the same ``SESSION_PREFIX``. At the end, a catalog listing
restricted to that tag names whatever the session left. Servers private to the session
(the scram cluster, moto) are compared with their state after bootstrap instead: anything
new there is a leak.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

import psycopg
import pymysql

#: This session's tag: two letters and six hex digits; what it makes starts with it.
SESSION_PREFIX = f"rt{secrets.token_hex(3)}"
#: ``name_prefix`` of the provider instances the fixtures declare.
NAME_PREFIX = f"{SESSION_PREFIX}_"


def pg_objects(conn: psycopg.Connection, prefix: str = "") -> set[str]:
    """``database NAME`` and ``role NAME`` of a PostgreSQL server whose name starts with
    ``prefix`` (every one when empty)."""
    databases = conn.execute("SELECT datname FROM pg_database WHERE starts_with(datname, %s)",
                             (prefix,)).fetchall()
    roles = conn.execute("SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s)",
                         (prefix,)).fetchall()
    return _tagged("database", databases) | _tagged("role", roles)


def mysql_objects(conn: pymysql.Connection, prefix: str) -> set[str]:
    """``database NAME`` and ``user NAME@HOST`` of a MySQL/MariaDB server whose name
    starts with ``prefix``."""
    with conn.cursor() as cur:
        cur.execute("SELECT schema_name FROM information_schema.schemata "
                    "WHERE LEFT(schema_name, %s) = %s", (len(prefix), prefix))
        databases = cur.fetchall()
        cur.execute("SELECT CONCAT(user, '@', host) FROM mysql.user WHERE LEFT(user, %s) = %s",
                    (len(prefix), prefix))
        users = cur.fetchall()
    return _tagged("database", databases) | _tagged("user", users)


def s3_objects(s3, iam) -> set[str]:
    """``bucket NAME`` and ``IAM user NAME`` of an S3 endpoint (boto3 clients)."""
    buckets = [(bucket["Name"],) for bucket in s3.list_buckets().get("Buckets", [])]
    users = [(user["UserName"],) for page in iam.get_paginator("list_users").paginate()
             for user in page["Users"]]
    return _tagged("bucket", buckets) | _tagged("IAM user", users)


def report(leaks: dict[str, set[str]]) -> str:
    """One line per server that holds leftovers, naming them; empty when there are none."""
    return "\n".join(f"{where}: {', '.join(sorted(names))}"
                     for where, names in sorted(leaks.items()) if names)


def _tagged(kind: str, rows: Iterable[tuple]) -> set[str]:
    return {f"{kind} {row[0]}" for row in rows}
