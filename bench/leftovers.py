"""What a bench run leaves on its PostgreSQL server.

Every bench names what it makes there (databases, login roles, its app database) with a
prefix of its own run (``run_prefix``) and runs inside ``dropped_afterwards``: whatever
happened (SIGTERM included), everything with that prefix is dropped, and the run fails
(exit status 1) naming what could not be.
"""

from __future__ import annotations

import secrets
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pymysql
from psycopg import sql

from tests.support.leaks import mysql_objects, pg_objects

_DROP = {"database": sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)"),
         "role": sql.SQL("DROP ROLE IF EXISTS {}")}


def run_prefix() -> str:
    """A name prefix of this run alone, valid as a provider instance's ``name_prefix``."""
    return f"rmbench{secrets.token_hex(2)}_"


def _drop_mysql(mysql: dict[str, object], prefix: str) -> set[str]:
    """Drop every database and user of a MySQL/MariaDB server (``pymysql.connect``
    arguments) whose name starts with ``prefix``; what is left."""
    conn = pymysql.connect(**mysql, autocommit=True)
    try:
        for item in sorted(mysql_objects(conn, prefix)):
            kind, name = item.split(" ", 1)
            with conn.cursor() as cur:
                try:
                    if kind == "database":
                        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
                    else:
                        cur.execute("DROP USER IF EXISTS %s@%s", tuple(name.rsplit("@", 1)))
                except pymysql.MySQLError as exc:
                    print(f"cannot drop {item}: {exc}", file=sys.stderr)
        return mysql_objects(conn, prefix)
    finally:
        conn.close()


@contextmanager
def dropped_afterwards(admin_url: str, prefix: str,
                       mysql: dict[str, object] | None = None) -> Iterator[None]:
    """After the block, drop every database, then every role, whose name starts with
    ``prefix`` (on the MySQL/MariaDB server ``mysql`` names too, when given); print what
    is still there and exit with status 1 if anything is. A
    SIGTERM (a timeout, a closed terminal) ends the run through the same cleanup."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        yield
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            for kind, name in sorted(item.split(" ", 1) for item in pg_objects(conn, prefix)):
                try:
                    conn.execute(_DROP[kind].format(sql.Identifier(name)))
                except psycopg.Error as exc:  # named below, with the others left
                    print(f"cannot drop {kind} {name}: {exc}", file=sys.stderr)
            left = pg_objects(conn, prefix)
        if mysql is not None:
            left |= _drop_mysql(mysql, prefix)
        if left:
            print(f"the bench left on the server: {', '.join(sorted(left))}", file=sys.stderr)
    if left:
        sys.exit(1)
