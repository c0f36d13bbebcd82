"""What the PostgreSQL adapter tests share: the session's scram cluster, its superuser
connection, adapters with the least-privilege and the superuser admin, backend names that
are dropped afterwards, and a tenant's login through password authentication.

The fixtures are named ``cluster``, ``su``, ``adapter``, ``su_adapter`` and ``names``; a
module imports those it asks for and those they ask for (``names`` needs ``su``, which
needs ``cluster``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql

from providers.adapters.base import Credentials, InstanceConfig
from providers.adapters.naming import new_backend_name
from providers.adapters.postgresql import PostgreSQLAdapter
from tests.support.leaks import NAME_PREFIX
from tests.support.pgcluster import ScramCluster


@pytest.fixture(name="cluster", scope="module")
def pg_cluster(scram_cluster: ScramCluster) -> ScramCluster:
    return scram_cluster


@pytest.fixture(name="su", scope="module")
def pg_superuser(cluster: ScramCluster) -> Iterator[psycopg.Connection]:
    with cluster.superuser_connect() as conn:
        yield conn


@pytest.fixture(name="adapter")
def pg_adapter(cluster: ScramCluster) -> PostgreSQLAdapter:
    return PostgreSQLAdapter(InstanceConfig(host=cluster.host, port=cluster.port,
                                            username=cluster.admin_user,
                                            password=cluster.admin_password))


@pytest.fixture(name="su_adapter")
def pg_su_adapter(cluster: ScramCluster) -> PostgreSQLAdapter:
    return PostgreSQLAdapter(InstanceConfig(host=cluster.host, port=cluster.port,
                                            username=cluster.superuser,
                                            password=cluster.superuser_password))


def _cleanup(conn: psycopg.Connection, names: list[str]) -> None:
    for name in names:
        ident = sql.Identifier(name)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(ident))


@pytest.fixture(name="names")
def pg_names(su: psycopg.Connection) -> Iterator[Callable[[], str]]:
    """Hands out backend names; drops whatever database/role of that name is left."""
    issued: list[str] = []

    def issue() -> str:
        issued.append(new_backend_name(NAME_PREFIX))
        return issued[-1]

    yield issue
    _cleanup(su, issued)


def connect(cluster: ScramCluster, creds: Credentials, dbname: str | None = None,
            password: str | None = None) -> psycopg.Connection:
    """Log in as the tenant through the scram cluster (passwords are really checked)."""
    return psycopg.connect(host=cluster.host, port=cluster.port, user=creds.username,
                           password=creds.password if password is None else password,
                           dbname=dbname or creds.database, autocommit=True, connect_timeout=5)


def one(conn: psycopg.Connection, query: str, *params: object) -> object:
    row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
    return row[0] if row else None
