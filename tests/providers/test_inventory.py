"""``inventory``: one catalog round-trip per instance, on the local PostgreSQL and MariaDB.

Each test uses a prefix of its own, so other objects on the shared servers never count.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from psycopg import sql

from providers.adapters.base import Access, InstanceConfig, Login, ProviderAdapter, ProviderError
from providers.adapters.mysql import MySQLAdapter, grant_target, quote_identifier
from providers.adapters.naming import new_backend_name, new_login_name, new_password
from providers.adapters.postgresql import PostgreSQLAdapter
from tests.conftest import (
    MYSQL_HOST,
    MYSQL_PASSWORD,
    MYSQL_PORT,
    MYSQL_USER,
    PG_HOST,
    PG_PASSWORD,
    PG_PORT,
    PG_USER,
    mysql_admin_connect,
    pg_admin_connect,
)
from tests.support.pgcluster import ScramCluster
from tests.support.seeding import unique_prefix


@dataclass
class Backend:
    """An adapter with the superuser statements a test uses to break things behind it."""

    adapter: ProviderAdapter
    run: Callable[[str, tuple], None]
    drop_database: Callable[[str], None]
    drop_login: Callable[[str], None]
    revoke: Callable[[str], None]
    #: Give login ``b`` the privileges on database ``a`` that ``a``'s login should hold.
    misgrant: Callable[[str, str], None]
    #: A database and a login named exactly ``name``, made without the adapter, and back.
    create_raw: Callable[[str], None]
    drop_raw: Callable[[str], None]


def _postgresql() -> Iterator[Backend]:
    conn = pg_admin_connect()

    def run(statement, params=()):
        conn.execute(statement, params or None)

    def ident(name: str) -> sql.Identifier:
        return sql.Identifier(name)

    yield Backend(
        adapter=PostgreSQLAdapter(InstanceConfig(host=PG_HOST, port=PG_PORT, username=PG_USER,
                                                 password=PG_PASSWORD)),
        run=run,
        drop_database=lambda n: run(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(ident(n))),
        drop_login=lambda n: (  # a role owning a database cannot be dropped
            run(sql.SQL("ALTER DATABASE {} OWNER TO CURRENT_USER").format(ident(n))),
            run(sql.SQL("DROP ROLE {}").format(ident(n))),
        ),
        revoke=lambda n: run(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM {}")
                             .format(ident(n), ident(n))),
        misgrant=lambda a, b: run(sql.SQL("ALTER DATABASE {} OWNER TO {}")
                                  .format(ident(a), ident(b))),
        create_raw=lambda n: (
            run(sql.SQL("CREATE ROLE {} LOGIN").format(ident(n))),
            run(sql.SQL("CREATE DATABASE {} OWNER {}").format(ident(n), ident(n))),
        ),
        drop_raw=lambda n: (run(sql.SQL("DROP DATABASE IF EXISTS {}").format(ident(n))),
                            run(sql.SQL("DROP ROLE IF EXISTS {}").format(ident(n)))),
    )
    conn.close()


def _mysql() -> Iterator[Backend]:
    conn = mysql_admin_connect()
    cur = conn.cursor()

    def run(statement, params=()):
        cur.execute(statement, params or None)

    yield Backend(
        adapter=MySQLAdapter(InstanceConfig(host=MYSQL_HOST, port=MYSQL_PORT,
                                            username=MYSQL_USER, password=MYSQL_PASSWORD)),
        run=run,
        drop_database=lambda n: run(f"DROP DATABASE {quote_identifier(n)}"),
        drop_login=lambda n: run("DROP USER %s@'%%'", (n,)),
        revoke=lambda n: run(f"REVOKE ALL PRIVILEGES ON {grant_target(n)} FROM %s@'%%'", (n,)),
        misgrant=lambda a, b: (
            run(f"REVOKE ALL PRIVILEGES ON {grant_target(b)} FROM %s@'%%'", (b,)),
            run(f"GRANT ALL PRIVILEGES ON {grant_target(a)} TO %s@'%%'", (b,)),
        ),
        create_raw=lambda n: (run(f"CREATE DATABASE {quote_identifier(n)}"),
                              run("CREATE USER %s@'%%'", (n,)),
                              run(f"GRANT ALL PRIVILEGES ON {grant_target(n).replace('%', '%%')} "
                                  "TO %s@'%%'", (n,))),
        drop_raw=lambda n: (run(f"DROP DATABASE IF EXISTS {quote_identifier(n)}"),
                            run("DROP USER IF EXISTS %s@'%%'", (n,))),
    )
    conn.close()


@pytest.fixture(params=["postgresql", "mysql"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    yield from {"postgresql": _postgresql, "mysql": _mysql}[request.param]()


@pytest.fixture
def prefix(backend: Backend) -> Iterator[str]:
    """A prefix of this test's own; whatever carries it is dropped afterwards."""
    prefix = unique_prefix()
    yield prefix
    for _ in range(2):  # a login owning another's database goes once that database has
        for name in backend.adapter.inventory(prefix).names:
            with contextlib.suppress(ProviderError):
                backend.adapter.delete(name)


@pytest.fixture
def make(backend: Backend, prefix: str) -> Callable[[], str]:
    def make() -> str:
        name = new_backend_name(prefix)
        backend.adapter.create(name, new_password(), {})
        return name

    return make


def test_healthy_resources_are_found(backend: Backend, prefix: str, make) -> None:
    names = {make(), make()}

    found = backend.adapter.inventory(prefix)

    assert found.databases == found.logins == found.healthy == names


def test_dropped_database_is_detected(backend: Backend, prefix: str, make) -> None:
    gone, kept = make(), make()
    backend.drop_database(gone)

    found = backend.adapter.inventory(prefix)

    assert found.databases == {kept}
    assert found.logins == {gone, kept}
    assert found.healthy == {kept}


def test_dropped_login_is_detected(backend: Backend, prefix: str, make) -> None:
    gone, kept = make(), make()
    backend.drop_login(gone)

    found = backend.adapter.inventory(prefix)

    assert found.databases == {gone, kept}
    assert found.logins == {kept}
    assert found.healthy == {kept}


def test_revoked_privilege_is_detected(backend: Backend, prefix: str, make) -> None:
    revoked, kept = make(), make()
    backend.revoke(revoked)

    found = backend.adapter.inventory(prefix)

    assert found.names == {revoked, kept}
    assert found.healthy == {kept}


def test_another_tenants_objects_are_not_confused(backend: Backend, prefix: str, make) -> None:
    a, b = make(), make()
    backend.misgrant(a, b)  # b's login holds what a's should

    found = backend.adapter.inventory(prefix)

    assert found.names == {a, b}
    # PostgreSQL: a now belongs to b (a broken, b intact); MySQL: b's grant moved to a.
    assert found.healthy == ({b} if isinstance(backend.adapter, PostgreSQLAdapter) else {a})


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_postgresql_public_connect_is_not_healthy(backend: Backend, prefix: str, make) -> None:
    opened = make()
    backend.run(sql.SQL("GRANT CONNECT ON DATABASE {} TO PUBLIC").format(sql.Identifier(opened)),
                ())

    assert backend.adapter.inventory(prefix).healthy == set()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_postgresql_owner_acted_for_by_a_login_is_healthy(
    backend: Backend, prefix: str, make
) -> None:
    rotated, closed = make(), make()
    backend.adapter.add_login(rotated, Login(new_login_name(rotated), new_password(),
                                             Access.OWNER))
    for name in (rotated, closed):  # as a rotation of the owner ends
        backend.adapter.close_owner_login(name)

    found = backend.adapter.inventory(prefix)

    assert found.databases == {rotated, closed}
    assert found.healthy == {rotated}


#: Names that would be SQL if they ever reached a statement unquoted.
HOSTILE = ["aaaaaaaaaaaa; DROP ROLE postgres", "aaaaaaaaaaa'", 'aaaaaaaaaaa"', "aaaaaaaaaaa`",
           "aaaaa aaaaaa", "aaaaaaaaaaa%", "AAAAAAAAAAAA"]
#: Valid identifiers, but not names we generate.
LOOKALIKE = ["aaaaaaaaaaa", "aaaaaaaaaaaaa", "aaaaaaaaaaa_"]


@pytest.mark.parametrize("suffix", HOSTILE + LOOKALIKE)
def test_names_outside_the_scheme_are_ignored(backend: Backend, prefix: str, suffix: str
                                              ) -> None:
    """Catalog rows are filtered by a full match: such a name is never listed, so nothing
    downstream (CHECK, orphan drops) can receive it."""
    name = prefix + suffix
    backend.create_raw(name)
    try:
        assert backend.adapter.inventory(prefix).names == set()
        if suffix in HOSTILE:  # and were one passed in, every operation refuses it
            with pytest.raises(ProviderError, match="refusing invalid backend identifier"):
                backend.adapter.delete(name)
    finally:
        backend.drop_raw(name)


def test_least_privilege_postgresql_admin_sees_the_same(scram_cluster: ScramCluster) -> None:
    adapter = PostgreSQLAdapter(InstanceConfig(
        host=scram_cluster.host, port=scram_cluster.port, username=scram_cluster.admin_user,
        password=scram_cluster.admin_password))
    prefix = unique_prefix()
    healthy, broken = new_backend_name(prefix), new_backend_name(prefix)
    for name in (healthy, broken):
        adapter.create(name, new_password(), {})
    with scram_cluster.superuser_connect() as su:
        su.execute(sql.SQL("ALTER DATABASE {} OWNER TO CURRENT_USER")
                   .format(sql.Identifier(broken)))
        try:
            found = adapter.inventory(prefix)

            assert found.names == {healthy, broken}
            assert found.healthy == {healthy}
        finally:
            for name in (healthy, broken):
                su.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
                su.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def test_unreachable_instance_is_a_provider_error(backend: Backend) -> None:
    config = backend.adapter.config
    closed = type(backend.adapter)(InstanceConfig(host="127.0.0.1", port=1,
                                                  username=config.username, password="pw"))

    with pytest.raises(ProviderError) as excinfo:
        closed.inventory("rm_")

    assert excinfo.value.transient
    assert "127.0.0.1:1" in excinfo.value.message and "refused" in excinfo.value.message

