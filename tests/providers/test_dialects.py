"""CockroachDB, YugabyteDB and TiDB: the statements their adapters send, at statement level.

None of these servers can run here (no Debian or PyPI package), so these tests are the best
available and prove less than a server would: each adapter talks to a stand-in that records
every statement and answers catalog reads from a script, and the tests assert the exact
statements each dialect issues, and that none uses what its server lacks. Whether the
servers accept them is not verified. PostgreSQL and MySQL/MariaDB themselves are tested on
real servers in test_postgresql.py and test_mysql.py; their statements appear here only as
the reference the dialects are compared with.
"""

from __future__ import annotations

import contextlib
from typing import Any

import psycopg
import pymysql
import pytest
from psycopg import sql

from providers.adapters import registry
from providers.adapters.base import Credentials, InstanceConfig, ProviderAdapter, ProviderError
from providers.adapters.mysql import MySQLAdapter, TiDBAdapter
from providers.adapters.postgresql import PostgreSQLAdapter
from providers.adapters.postgresql_dialects import CockroachDBAdapter, YugabyteDBAdapter
from providers.services import declared_providers, validate_options
from resourcemanager.core.errors import InvalidInput

NAME = "rm_k7x2q9f3m1ab"
OTHER = "rm_0000000000zz"
PASSWORD = "s3cret-pass"
VERIFIER = "SCRAM-SHA-256$4096:c2FsdA==$stored:server"

Answers = dict[str, list[Any]]


class Server:
    """Records statements; a read gets the rows of the first answer its text contains.

    Rows given as dicts also set ``description`` (``SELECT *`` reads column names there).
    """

    def __init__(self, answers: Answers | None = None) -> None:
        self.answers = answers or {}
        self.statements: list[tuple[str, Any]] = []
        self.logins: list[str] = []
        self.algorithms: list[bytes | None] = []
        self.description: list[tuple[str]] | None = None
        self._rows: list[Any] = []

    # the cursor
    def execute(self, query: str | sql.Composable, params: Any = None) -> Server:
        text = query if isinstance(query, str) else query.as_string(None)
        self.statements.append((text, params))
        rows = next((rows for key, rows in self.answers.items() if key in text), [])
        if rows and isinstance(rows[0], dict):
            self.description = [(column,) for column in rows[0]]
            rows = [tuple(row.values()) for row in rows]
        self._rows = list(rows)
        return self

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return self._rows

    # the connection
    @property
    def connection(self) -> Server:
        return self

    @property
    def pgconn(self) -> Server:
        return self

    def encrypt_password(self, passwd: bytes, user: bytes, algorithm: bytes | None = None
                         ) -> bytes:
        self.algorithms.append(algorithm)
        return VERIFIER.encode()

    def cursor(self) -> contextlib.nullcontext[Server]:
        return contextlib.nullcontext(self)

    def ping(self, reconnect: bool = False) -> None:
        """A kept admin connection is checked before reuse: this one is a test's own."""
        raise pymysql.err.OperationalError(2006, "a recording is never reused")

    @property
    def closed(self) -> bool:
        """Likewise for a kept PostgreSQL connection."""
        return True

    def close(self) -> None:
        pass

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    # what the tests read
    @property
    def writes(self) -> list[str]:
        """Statements other than catalog reads."""
        return [text for text, _ in self.statements if not text.startswith(("SELECT", "SHOW"))]

    @property
    def text(self) -> str:
        return "\n".join(text for text, _ in self.statements)


def attach(adapter_class: type[ProviderAdapter], server: Server, **options: Any):
    adapter = adapter_class(InstanceConfig(host="db.internal", port=adapter_class.default_port,
                                           username="rm_admin", password="admin-pw",
                                           options=options))

    def connect(user: str, *args: Any) -> Server:
        server.logins.append(user)
        return server

    adapter._connect = connect  # type: ignore[method-assign]
    return adapter


def credentials(adapter: ProviderAdapter) -> Credentials:
    return adapter.credentials(NAME, PASSWORD)


# -- PostgreSQL family --------------------------------------------------------------------

#: A non-superuser admin meets a server where nothing of NAME exists yet.
PG_FRESH: Answers = {"rolsuper": [(False,)]}
#: Role and database exist, owned by the tenant, closed to PUBLIC.
PG_HEALTHY: Answers = {"rolsuper": [(False,)], "rolcanlogin FROM pg_roles": [(True,)],
                       "pg_get_userbyid": [(NAME, False)],
                       "has_database_privilege(%s": [(True,)]}

PG_CREATE = [
    f'CREATE ROLE "{NAME}" LOGIN PASSWORD \'{VERIFIER}\' NOSUPERUSER NOCREATEDB NOCREATEROLE '
    "INHERIT",
    f'ALTER ROLE "{NAME}" CONNECTION LIMIT  -1',  # psycopg puts a space before a negative
    f'GRANT "{NAME}" TO CURRENT_USER',
    f'CREATE DATABASE "{NAME}" OWNER "{NAME}"',
    f'REVOKE CONNECT, TEMPORARY ON DATABASE "{NAME}" FROM PUBLIC',
    f'GRANT CONNECT, TEMPORARY ON DATABASE "{NAME}" TO "{NAME}"',
    f'REVOKE "{NAME}" FROM CURRENT_USER',
]
CRDB_CREATE = [
    f'CREATE ROLE "{NAME}" LOGIN PASSWORD \'{VERIFIER}\' NOCREATEDB NOCREATEROLE',
    f'GRANT "{NAME}" TO CURRENT_USER',
    f'CREATE DATABASE "{NAME}"',
    f'ALTER DATABASE "{NAME}" OWNER TO "{NAME}"',
    f'REVOKE CONNECT ON DATABASE "{NAME}" FROM PUBLIC',
    f'GRANT CONNECT ON DATABASE "{NAME}" TO "{NAME}"',
    f'REVOKE "{NAME}" FROM CURRENT_USER',
]
PG_TERMINATE = ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                "AND pid <> pg_backend_pid() AND pg_has_role(usesysid, 'USAGE')")
CRDB_CANCEL = ("CANCEL SESSIONS IF EXISTS (SELECT session_id FROM [SHOW CLUSTER SESSIONS] "
               "WHERE user_name = %s)")

#: What CockroachDB lacks: PostgreSQL-only functions, options, privileges and clauses.
NOT_IN_COCKROACHDB = ("aclexplode", "acldefault", "starts_with", "pg_terminate_backend",
                      "WITH (FORCE)", "TEMPORARY", "INHERIT", "SUPERUSER", "OWNER \"",
                      "CONNECTION LIMIT")


@pytest.mark.parametrize(("adapter_class", "expected"), [
    (PostgreSQLAdapter, PG_CREATE),
    (YugabyteDBAdapter, PG_CREATE),
    (CockroachDBAdapter, CRDB_CREATE),
])
def test_create_statements(adapter_class, expected):
    server = Server(PG_FRESH)
    creds = attach(adapter_class, server).create(NAME, PASSWORD, {})

    assert server.writes == expected
    assert creds.uri == f"postgresql://{NAME}:{PASSWORD}@db.internal:{adapter_class.default_port}" \
                        f"/{NAME}"


@pytest.mark.parametrize(("adapter_class", "properties", "expected"), [
    (PostgreSQLAdapter, {"connection_limit": 5}, [f'ALTER ROLE "{NAME}" CONNECTION LIMIT 5']),
    (YugabyteDBAdapter, {"connection_limit": None},
     [f'ALTER ROLE "{NAME}" CONNECTION LIMIT  -1']),
    (CockroachDBAdapter, {}, []),
    (MySQLAdapter, {"max_user_connections": 7},
     [("ALTER USER %s@%s WITH MAX_USER_CONNECTIONS %s", (NAME, "%", 7))]),
    (TiDBAdapter, {}, []),
])
def test_update_applies_the_declared_limits_only(adapter_class, properties, expected):
    server = Server(PG_HEALTHY)
    adapter = attach(adapter_class, server)
    adapter.update(NAME, adapter.validate_properties(properties))

    if adapter_class in (MySQLAdapter, TiDBAdapter):
        assert server.statements == expected
    else:
        assert server.writes == expected


def test_password_hash_algorithm_per_dialect():
    """libpq hashes passwords client-side; it cannot follow CockroachDB's ``crdb-bcrypt``
    default, so the CockroachDB adapter asks for SCRAM, which CockroachDB stores as sent."""
    for adapter_class, algorithm in ((PostgreSQLAdapter, None), (YugabyteDBAdapter, None),
                                     (CockroachDBAdapter, b"scram-sha-256")):
        server = Server(PG_FRESH)
        attach(adapter_class, server).create(NAME, PASSWORD, {})
        assert server.algorithms == [algorithm]
        assert PASSWORD not in server.text


@pytest.mark.parametrize(("adapter_class", "end_sessions", "drop"), [
    (PostgreSQLAdapter, PG_TERMINATE, f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)'),
    (YugabyteDBAdapter, PG_TERMINATE, f'DROP DATABASE IF EXISTS "{NAME}"'),
    (CockroachDBAdapter, CRDB_CANCEL, f'DROP DATABASE IF EXISTS "{NAME}" CASCADE'),
])
def test_delete_statements(adapter_class, end_sessions, drop):
    server = Server(PG_HEALTHY)
    attach(adapter_class, server).delete(NAME)

    assert (end_sessions, (NAME,)) in server.statements
    assert [text for text in server.writes if not text.startswith("CANCEL")] == [
        f'GRANT "{NAME}" TO CURRENT_USER', drop, f'REVOKE "{NAME}" FROM CURRENT_USER',
        f'DROP ROLE IF EXISTS "{NAME}"',
    ]


@pytest.mark.parametrize("adapter_class", [PostgreSQLAdapter, YugabyteDBAdapter,
                                           CockroachDBAdapter])
def test_check_in_order_writes_nothing_and_logs_in_as_the_tenant(adapter_class):
    server = Server(PG_HEALTHY)
    adapter = attach(adapter_class, server)
    result = adapter.check(credentials(adapter), repair=False)

    assert result.ok, result.message
    assert server.writes == []
    assert server.logins == ["rm_admin", NAME]


def test_check_repairs_connect_privileges_with_the_dialects_privileges():
    for adapter_class, privileges in ((PostgreSQLAdapter, "CONNECT, TEMPORARY"),
                                      (CockroachDBAdapter, "CONNECT")):
        server = Server(PG_HEALTHY | {"pg_get_userbyid": [(NAME, True)]})
        adapter = attach(adapter_class, server)
        assert not adapter.check(credentials(adapter), repair=False).ok
        result = adapter.check(credentials(adapter), repair=True)

        assert result.repaired == ("connect privileges restored",)
        assert server.writes == [
            f'GRANT "{NAME}" TO CURRENT_USER',
            f'REVOKE {privileges} ON DATABASE "{NAME}" FROM PUBLIC',
            f'GRANT {privileges} ON DATABASE "{NAME}" TO "{NAME}"',
            f'REVOKE "{NAME}" FROM CURRENT_USER',
        ]


def test_check_recreates_a_missing_cockroachdb_login_without_postgresql_options():
    server = Server({"rolsuper": [(False,)], "pg_get_userbyid": [(NAME, False)],
                     "has_database_privilege(%s": [(True,)]})
    adapter = attach(CockroachDBAdapter, server)
    result = adapter.check(credentials(adapter), repair=True)

    assert result.repaired == ("login re-created",)
    assert server.writes == [f'CREATE ROLE "{NAME}" LOGIN PASSWORD \'{VERIFIER}\' NOCREATEDB '
                             "NOCREATEROLE"]


def test_inventory_reads_only_what_the_dialect_has():
    rows = {"FROM pg_database d": [(NAME, True), (OTHER, False)],
            "FROM pg_roles WHERE": [(NAME,), (OTHER,)]}
    for adapter_class in (PostgreSQLAdapter, YugabyteDBAdapter, CockroachDBAdapter):
        server = Server(rows)
        found = attach(adapter_class, server).inventory("rm_")

        assert found.databases == found.logins == {NAME, OTHER}
        assert found.healthy == {NAME}
        assert all(params == ("rm_",) for _, params in server.statements)

    assert "strpos(d.datname, %s) = 1" in server.text
    assert "strpos(rolname, %s) = 1" in server.text
    assert '"".crdb_internal.cluster_database_privileges' in server.text


def test_cockroachdb_statements_avoid_what_it_lacks():
    server = Server(PG_FRESH)
    adapter = attach(CockroachDBAdapter, server)
    adapter.create(NAME, PASSWORD, {})
    server.answers = PG_HEALTHY | {"pg_get_userbyid": [(NAME, True)]}
    adapter.check(credentials(adapter), repair=True)
    adapter.inventory("rm_")
    adapter.public_connect_warnings()
    adapter.delete(NAME)

    used = [word for word in NOT_IN_COCKROACHDB if word in server.text]
    assert used == []


def test_messages_name_the_server():
    def refused(*args: Any) -> None:
        raise psycopg.OperationalError("connection failed: Connection refused")

    for adapter_class, label in ((CockroachDBAdapter, "CockroachDB"),
                                 (YugabyteDBAdapter, "YugabyteDB")):
        adapter = attach(adapter_class, Server())
        adapter._connect = refused  # type: ignore[method-assign]
        with pytest.raises(ProviderError) as info:
            adapter.ping()
        port = adapter_class.default_port
        assert info.value.message == f"cannot reach {label} at db.internal:{port}: " \
                                     "connection refused"
        assert info.value.transient


# -- MySQL family -------------------------------------------------------------------------

MYSQL_CREATE = [
    f"CREATE DATABASE IF NOT EXISTS `{NAME}` CHARACTER SET utf8mb4",
    "CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s",
    "ALTER USER %s@%s IDENTIFIED BY %s",
    "ALTER USER %s@%s WITH MAX_USER_CONNECTIONS %s",
    r"GRANT ALL PRIVILEGES ON `rm\_k7x2q9f3m1ab`.* TO %s@%s",
]
#: TiDB takes MAX_USER_CONNECTIONS only since 2025: its adapter declares no property.
TIDB_CREATE = [text for text in MYSQL_CREATE if "MAX_USER_CONNECTIONS" not in text]
#: A mysql.db row as TiDB writes it for GRANT ALL: column ``DB``, some privileges unset.
TIDB_GRANT_ROW = {"Host": "%", "DB": r"rm\_k7x2q9f3m1ab", "User": NAME,
                  **{f"{p}_priv": "Y" for p in ("Select", "Insert", "Update", "Delete",
                                                "Create", "Drop", "Index", "Alter", "Execute")},
                  "Grant_priv": "N", "Event_priv": "N", "Create_routine_priv": "N"}


@pytest.mark.parametrize(("adapter_class", "expected"), [
    (MySQLAdapter, MYSQL_CREATE),
    (TiDBAdapter, TIDB_CREATE),
])
def test_create_statements_on_tidb_lack_only_the_connection_limit(adapter_class, expected):
    server = Server()
    creds = attach(adapter_class, server).create(NAME, PASSWORD, {})

    assert server.writes == expected
    assert server.statements[1][1] == (NAME, "%", PASSWORD)
    assert creds.uri == f"mysql://{NAME}:{PASSWORD}@db.internal:{adapter_class.default_port}" \
                        f"/{NAME}"


@pytest.mark.parametrize(("adapter_class", "sessions", "kill"), [
    (MySQLAdapter, "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = %s",
     "KILL CONNECTION %s"),
    (TiDBAdapter, "SELECT ID FROM information_schema.CLUSTER_PROCESSLIST WHERE USER = %s",
     "KILL TIDB %s"),
])
def test_delete_ends_sessions_the_dialects_way(adapter_class, sessions, kill):
    server = Server({"PROCESSLIST": [(8306449708033769879,), (17,)]})
    attach(adapter_class, server).delete(NAME)

    assert server.statements == [
        ("DROP USER IF EXISTS %s@%s", (NAME, "%")),
        (sessions, (NAME,)),
        (kill, (8306449708033769879,)),
        (kill, (17,)),
        ("SELECT User FROM mysql.user WHERE Host = %s AND User LIKE %s",
         ("%", NAME.replace("_", "\\_") + "\\_%")),  # its logins of their own: none here
        (f"DROP DATABASE IF EXISTS `{NAME}`", None),
    ]


def test_tidb_inventory_reads_its_mysql_db_layout():
    missing_alter = TIDB_GRANT_ROW | {"DB": OTHER, "User": OTHER, "Alter_priv": "N"}
    server = Server({"information_schema.SCHEMATA": [(NAME,), (OTHER,)],
                     "FROM mysql.user": [(NAME,), (OTHER,)],
                     "FROM mysql.db": [TIDB_GRANT_ROW, missing_alter]})
    found = attach(TiDBAdapter, server).inventory("rm_")

    assert found.databases == found.logins == {NAME, OTHER}
    assert found.healthy == {NAME}
    assert server.writes == []


def test_mysql_inventory_still_wants_every_privilege_column():
    """The reference rule, unchanged for MySQL/MariaDB: a row with one privilege unset is
    not healthy (test_inventory.py proves the rule on MariaDB)."""
    row = {"Db" if key == "DB" else key: value for key, value in TIDB_GRANT_ROW.items()}
    server = Server({"information_schema.SCHEMATA": [(NAME,)], "FROM mysql.user": [(NAME,)],
                     "FROM mysql.db": [row]})
    assert attach(MySQLAdapter, server).inventory("rm_").healthy == frozenset()
    server.answers["FROM mysql.db"] = [row | {"Event_priv": "Y", "Create_routine_priv": "Y"}]
    assert attach(MySQLAdapter, server).inventory("rm_").healthy == {NAME}


def test_tidb_check_accepts_its_show_grants():
    server = Server({"information_schema.SCHEMATA": [(1,)], "FROM mysql.user": [(1,)],
                     "SHOW GRANTS": [("GRANT USAGE ON *.* TO 'rm_k7x2q9f3m1ab'@'%'",),
                                     (f"GRANT ALL PRIVILEGES ON `{NAME}`.* TO '{NAME}'@'%'",)]})
    adapter = attach(TiDBAdapter, server)
    result = adapter.check(credentials(adapter), repair=False)

    assert result.ok, result.message
    assert server.logins == ["rm_admin", NAME]
    assert server.writes == []


def test_tidb_messages_name_tidb():
    def refused(*args: Any) -> None:
        raise pymysql.err.OperationalError(
            2003, "Can't connect to MySQL server on 'db.internal' ([Errno 111] Connection refused)")

    adapter = attach(TiDBAdapter, Server())
    adapter._connect = refused  # type: ignore[method-assign]
    with pytest.raises(ProviderError) as info:
        adapter.ping()
    assert info.value.message == "cannot reach TiDB at db.internal:4000: [Errno 111] " \
                                 "Connection refused"


# -- registration, defaults and options ---------------------------------------------------


@pytest.mark.parametrize(("key", "adapter_class", "port", "scheme"), [
    ("cockroachdb", CockroachDBAdapter, 26257, "postgresql"),
    ("yugabytedb", YugabyteDBAdapter, 5433, "postgresql"),
    ("tidb", TiDBAdapter, 4000, "mysql"),
])
def test_dialects_are_provider_classes_with_their_default_port(key, adapter_class, port, scheme):
    assert registry.adapter_class(key) is adapter_class
    assert (key, adapter_class.label) in registry.class_choices()
    assert adapter_class.resource_type == "sql"
    parsed = adapter_class.parse_uri(f"{scheme}://app:pw@db.example.com/{NAME}")
    assert (parsed.port, parsed.database) == (port, NAME)


def test_declared_dialect_instances_get_default_ports_and_options(settings):
    settings.RM_PROVIDERS = [
        {"key": "crdb", "class": "cockroachdb",
         "url": "postgresql://rm_admin:pw@crdb.example.com/defaultdb?sslmode=verify-full"},
        {"key": "yb", "class": "yugabytedb", "host": "yb.example.com", "username": "rm_admin",
         "password": "pw"},
        {"key": "tidb", "class": "tidb", "url": "mysql://rm_admin:pw@tidb.example.com"},
    ]
    settings.RM_PROVIDER_POSTGRESQL_URL = settings.RM_PROVIDER_MYSQL_URL = ""
    settings.RM_PROVIDER_MONGODB_URL = settings.RM_PROVIDER_S3_URL = ""
    declared = {item.key: item for item in declared_providers()}

    assert {key: (item.provider_class, item.port) for key, item in declared.items()} == {
        "crdb": ("cockroachdb", 26257), "yb": ("yugabytedb", 5433), "tidb": ("tidb", 4000)}
    assert declared["crdb"].options == {"database": "defaultdb", "sslmode": "verify-full"}


def test_dialects_take_their_familys_options_only():
    assert validate_options("cockroachdb", {"sslmode": "verify-full", "database": "postgres"})
    assert validate_options("tidb", {"ssl_ca": "/etc/ssl/tidb-ca.pem", "user_host": "10.%"})
    with pytest.raises(InvalidInput, match=r"unknown options ssl_ca; CockroachDB knows "):
        validate_options("cockroachdb", {"ssl_ca": "/ca.pem"})
    with pytest.raises(InvalidInput, match=r"unknown options sslmode; TiDB knows "):
        validate_options("tidb", {"sslmode": "require"})


def test_an_unknown_dialect_is_refused_readably(settings):
    with pytest.raises(LookupError, match=r"unknown provider class 'cockroach'"):
        validate_options("cockroach", {})
    settings.RM_PROVIDERS = [{"key": "crdb", "class": "cockroach",
                              "url": "postgresql://rm_admin:pw@crdb.example.com/postgres"}]
    with pytest.raises(InvalidInput, match=r"provider 'crdb': unknown class 'cockroach'"):
        declared_providers()
    with pytest.raises(InvalidInput, match=r"unknown options dialect"):
        validate_options("postgresql", {"dialect": "cockroachdb"})
