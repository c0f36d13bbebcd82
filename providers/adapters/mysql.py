r"""MySQL / MariaDB: one database and one account, both named ``backend_name``, per resource.

Account names, hosts and passwords always travel as bound parameters. The only identifier
written into SQL text is the database name, validated by ``require_backend_name`` and
backtick-quoted; in GRANT its ``_`` is escaped, since GRANT treats ``_``/``%`` as wildcards.

The instance admin need not be root. For the default ``rm_`` prefix this suffices::

    CREATE USER 'rm_admin'@'%' IDENTIFIED BY '...';
    GRANT CREATE USER ON *.* TO 'rm_admin'@'%';
    GRANT ALL PRIVILEGES ON `rm\_%`.* TO 'rm_admin'@'%' WITH GRANT OPTION;
    GRANT SELECT ON mysql.user TO 'rm_admin'@'%';
    GRANT SELECT ON mysql.db TO 'rm_admin'@'%';

CHECK reads tenants' accounts in ``mysql.user``; the batched sweep (``inventory``) also
reads their grants in ``mysql.db``.
Optionally ``GRANT PROCESS, CONNECTION ADMIN ON *.*`` (MySQL 8: ``CONNECTION_ADMIN``) lets
``delete`` and ``remove_login`` end a tenant's open sessions; without it they last until
they disconnect.

Logins of their own: ``providers.adapters.mysql_logins``. Handing what a rotation's replaced
logins defined over to the new login (``providers.adapters.mysql_definers``) also takes::

    GRANT SET USER ON *.* TO 'rm_admin'@'%';
    GRANT SELECT ON mysql.proc TO 'rm_admin'@'%';

TiDB speaks the protocol and these statements too; ``TiDBAdapter`` replaces the few that
differ (the class attributes under "dialect" below). Only MySQL/MariaDB are tested on a server.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, ClassVar

import pymysql
from pymysql.cursors import Cursor

from providers.adapters.base import (
    CheckResult,
    Credentials,
    Inventory,
    ProviderAdapter,
    ProviderError,
    require_backend_name,
    require_login_name,
    require_owner_login,
    scrub,
)
from providers.adapters.checkpoints import CREATE_HALF_DONE, DELETE_HALF_DONE, checkpoint
from providers.adapters.idle_connections import IdleConnections, instance_key
from providers.adapters.mysql_definers import MySQLDefiners
from providers.adapters.mysql_dumps import MySQLDumps
from providers.adapters.mysql_logins import MySQLLogins
from providers.adapters.mysql_names import escape_wildcards, grant_target, quote_identifier
from providers.adapters.mysql_quotas import (
    FROZEN_OWNER_COLUMNS,
    MySQLQuotas,
    held_while_frozen,
)
from providers.adapters.naming import is_login_of
from providers.adapters.properties import PropertySpec

#: A refused login: 1045 for a wrong password; MariaDB answers 1698 when the account does
#: not exist and the plugin it mimics for unknown users is one the client cannot speak.
ACCESS_DENIED = frozenset({1045, 1698})
#: Server errors worth retrying: too many connections, shutdown, lock wait, deadlock, killed.
TRANSIENT_SERVER_ERRORS = frozenset({1040, 1053, 1205, 1213, 1927})
#: The account uses all the connections it may hold (its own limit, or the server's
#: ``max_user_connections``); the server checks that after the password.
AT_CONNECTION_LIMIT = frozenset({1203, 1226})
#: The account may not read a table (here: ``mysql.user``).
TABLE_ACCESS_DENIED = 1142
_MAX_REASON = 200
def _code(exc: pymysql.MySQLError) -> int:
    return exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0


def _reason(exc: pymysql.MySQLError) -> str:
    text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    # "Can't connect to MySQL server on 'h' ([Errno 111] Connection refused)" -> the cause
    inner = re.search(r"\((.+)\)\s*$", text) if _code(exc) in (2002, 2003) else None
    text = inner.group(1) if inner else text or type(exc).__name__
    return text[:_MAX_REASON]


class MySQLAdapter(MySQLLogins, MySQLDefiners, MySQLQuotas, MySQLDumps, ProviderAdapter):
    key = "mysql"
    label = "MySQL / MariaDB"
    resource_type = "sql"
    uri_scheme = "mysql"
    default_port = 3306
    instance_options = {
        "user_host": PropertySpec("Host part of created accounts (default '%'); CHECK logs "
                                  "in as the tenant, so it must also match the manager's "
                                  "address"),
        "ssl_ca": PropertySpec("CA certificate file; when set, connections use TLS and "
                               "verify the server", max_length=4096),
    }
    properties = {
        "max_user_connections": PropertySpec(
            "Most concurrent connections the resource's account may hold (0: unlimited)",
            kind="integer", default=0, minimum=0, maximum=10_000),
    }

    # -- dialect: what MySQL-compatible servers spell differently ---------------------------

    #: The server in messages.
    server_name: ClassVar[str] = "MySQL"
    #: Thread ids of an account's sessions (bound: the user name).
    _sessions: ClassVar[str] = "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = %s"
    #: Ends one session (bound: its id).
    _kill: ClassVar[str] = "KILL CONNECTION %s"
    #: The database column of ``mysql.db``.
    _db_column: ClassVar[str] = "Db"
    #: ``mysql.db`` columns GRANT ALL sets; None: every ``*_priv`` column but ``Grant_priv``.
    _all_privilege_columns: ClassVar[frozenset[str] | None] = None

    @property
    def user_host(self) -> str:
        return str(self.config.options.get("user_host") or "%")

    # -- operations ---------------------------------------------------------------------

    def ping(self) -> None:
        with self._admin("ping") as cur:
            cur.execute("SELECT 1")

    def create(self, backend_name: str, password: str, properties: dict[str, Any]) -> Credentials:
        name = require_backend_name(backend_name)
        account = (name, self.user_host)
        with self._admin(f"creating {name}", password) as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(name)} "
                        "CHARACTER SET utf8mb4")
            checkpoint(CREATE_HALF_DONE)
            cur.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (*account, password))
            # A retry after a crash, or a re-create, must leave exactly this password.
            cur.execute("ALTER USER %s@%s IDENTIFIED BY %s", (*account, password))
            self._apply_properties(cur, account, properties)
            cur.execute(f"GRANT ALL PRIVILEGES ON {grant_target(name)} TO %s@%s", account)
        return self.credentials(name, password)

    def update(
        self, backend_name: str, properties: dict[str, Any], *, owner_login: str | None = None
    ) -> None:
        name = require_backend_name(backend_name)
        login = name if owner_login is None else require_login_name(owner_login, name)
        with self._admin(f"updating {name}") as cur:
            self._apply_properties(cur, (login, self.user_host), properties)

    def delete(self, backend_name: str) -> None:
        name = require_backend_name(backend_name)
        with self._admin(f"deleting {name}") as cur:
            cur.execute("DROP USER IF EXISTS %s@%s", (name, self.user_host))
            checkpoint(DELETE_HALF_DONE)
            self._end_sessions(cur, name)
            for login in self._logins_of(cur, name):
                cur.execute("DROP USER IF EXISTS %s@%s", (login, self.user_host))
                self._end_sessions(cur, login)
            cur.execute(f"DROP DATABASE IF EXISTS {quote_identifier(name)}")

    def inventory(self, prefix: str) -> Inventory:
        starts_with = escape_wildcards(prefix) + "%"
        account = (self.user_host, starts_with)
        with self._admin("listing databases and logins") as cur:
            cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA "
                        "WHERE SCHEMA_NAME LIKE %s", (starts_with,))
            databases = [row[0] for row in cur.fetchall()]
            cur.execute("SELECT User FROM mysql.user WHERE Host = %s AND User LIKE %s", account)
            logins = [row[0] for row in cur.fetchall()]
            # Privilege columns differ between MySQL and MariaDB versions: read them all.
            cur.execute("SELECT * FROM mysql.db WHERE Host = %s AND User LIKE %s", account)
            columns = [column[0] for column in cur.description]
            grants = [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]
        healthy = [grant["User"] for grant in grants if self._grants_all_on_own_database(grant)]
        return Inventory.matching(prefix, databases, logins, healthy)

    def check(
        self, credentials: Credentials, *, repair: bool, owner_login: str | None = None
    ) -> CheckResult:
        name = require_backend_name(credentials.database)
        user = require_owner_login(credentials.username, name, owner_login)
        account, password = (user, self.user_host), credentials.password
        repaired: list[str] = []

        def failed(message: str) -> CheckResult:
            return CheckResult(False, message, tuple(repaired))

        with self._admin(f"checking {name}", password) as cur:
            cur.execute("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                        (name,))
            if cur.fetchone() is None:
                return failed(f"database {name} no longer exists; its data is lost and "
                              "cannot be restored by a repair")
            cur.execute("SELECT 1 FROM mysql.user WHERE User = %s AND Host = %s", account)
            if cur.fetchone() is None:
                if not repair:
                    return failed(f"login {user}@{self.user_host} does not exist")
                cur.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s",
                            (*account, password))
                repaired.append("login re-created")
            try:
                grants = self._tenant_grants(credentials)
            except _AtConnectionLimit:
                return CheckResult(True, f"database and login exist; {user} holds all the "
                                   "connections it may, so its privileges were not verified",
                                   tuple(repaired))
            if grants is None:
                if not repair:
                    return failed(f"login {user} rejects its stored password")
                cur.execute("ALTER USER %s@%s IDENTIFIED BY %s", (*account, password))
                repaired.append("password reset")
                grants = self._tenant_grants(credentials)
                if grants is None:
                    return failed(f"login {user} still rejects its password after a reset")
            if not _holds_all_privileges(grants, name):
                if not repair:
                    return failed(f"login {user} lacks privileges on database {name}")
                cur.execute(f"GRANT ALL PRIVILEGES ON {grant_target(name)} TO %s@%s", account)
                repaired.append("privileges re-granted")
                if not _holds_all_privileges(self._tenant_grants(credentials) or [], name):
                    return failed(f"login {user} still lacks privileges on {name} after a grant")
        if repaired:
            return CheckResult(True, "repaired: " + ", ".join(repaired), tuple(repaired))
        return CheckResult(True, "database, login and privileges are in order")

    # -- helpers --------------------------------------------------------------------------

    def _connect(self, user: str, password: str) -> pymysql.connections.Connection:
        """A raw connection; pymysql errors propagate unmapped."""
        options: dict[str, Any] = {}
        if ca := self.config.options.get("ssl_ca"):
            options = {"ssl_ca": ca, "ssl_verify_cert": True, "ssl_verify_identity": True}
        return pymysql.connect(
            host=self.config.host, port=self.config.port, user=user, password=password,
            autocommit=True, connect_timeout=self.config.connect_timeout, charset="utf8mb4",
            read_timeout=self.config.read_timeout, write_timeout=self.config.read_timeout,
            **options,
        )

    @contextmanager
    def _admin(self, action: str, *secrets: str) -> Iterator[Cursor]:
        """An admin cursor, on a connection kept from an earlier operation when one is
        idle (``idle_connections``); any pymysql error becomes a ProviderError without
        secrets."""
        key = instance_key(self.config.host, self.config.port, self.config.username,
                           self.config.options.get("ssl_ca"), self.config.connect_timeout,
                           self.config.read_timeout, password=self.config.password)

        def connect() -> pymysql.connections.Connection:
            try:
                return self._connect(self.config.username, self.config.password)
            except pymysql.MySQLError as exc:
                raise self._error(exc, action, *secrets) from None

        try:
            with _IDLE.borrowed(key, connect) as conn, conn.cursor() as cur:
                yield cur
        except pymysql.MySQLError as exc:
            raise self._error(exc, action, *secrets) from None

    def _tenant_grants(self, credentials: Credentials) -> list[str] | None:
        """``SHOW GRANTS`` as the tenant, or None when the server rejects its password."""
        action = f"logging in as {credentials.username}"
        try:
            conn = self._connect(credentials.username, credentials.password)
        except pymysql.MySQLError as exc:
            if _code(exc) in ACCESS_DENIED:
                return None
            if _code(exc) in AT_CONNECTION_LIMIT:
                raise _AtConnectionLimit(f"login {credentials.username} holds all the "
                                         "connections it may", transient=True) from None
            raise self._error(exc, action, credentials.password) from None
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW GRANTS")
                return [row[0] for row in cur.fetchall()]
        except pymysql.MySQLError as exc:
            raise self._error(exc, action, credentials.password) from None
        finally:
            conn.close()

    def _apply_properties(self, cur: Cursor, account: tuple[str, str],
                          properties: dict[str, Any]) -> None:
        """Set the declared account limits (0, or missing: unlimited)."""
        if "max_user_connections" in self.properties:
            limit = int(properties.get("max_user_connections") or 0)
            cur.execute("ALTER USER %s@%s WITH MAX_USER_CONNECTIONS %s", (*account, limit))

    def _logins_of(self, cur: Cursor, name: str) -> list[str]:
        """The logins of their own of resource ``name``. Listing them takes ``SELECT`` on
        ``mysql.user`` (documented above; CHECK needs it too): without it, none."""
        try:
            cur.execute("SELECT User FROM mysql.user WHERE Host = %s AND User LIKE %s",
                        (self.user_host, escape_wildcards(name) + "\\_%"))
        except pymysql.MySQLError as exc:
            if _code(exc) != TABLE_ACCESS_DENIED:
                raise
            return []
        return [login for (login,) in cur.fetchall() if is_login_of(login, name)]

    def _end_sessions(self, cur: Cursor, user: str) -> None:
        """Kill the user's sessions (needs PROCESS and CONNECTION ADMIN; a no-op without)."""
        cur.execute(self._sessions, (user,))
        for (thread_id,) in cur.fetchall():
            with suppress(pymysql.MySQLError):  # already gone, or not ours to kill
                cur.execute(self._kill, (int(thread_id),))

    def _grants_all_on_own_database(self, grant: dict[str, Any]) -> bool:
        """A ``mysql.db`` row granting its user ALL PRIVILEGES on the same-named database,
        its ``_`` escaped or not, or all but a freeze's (``mysql_quotas``), as CHECK
        accepts."""
        database = re.sub(r"\\([_%\\])", r"\1", grant[self._db_column])
        required = self._all_privilege_columns or {
            column for column in grant if column.endswith("_priv") and column != "Grant_priv"}
        frozen = grant.get("Insert_priv") == "N" and all(
            grant.get(column) == "N" for column in FROZEN_OWNER_COLUMNS & required)
        if frozen:
            required = required - FROZEN_OWNER_COLUMNS
        return database == grant["User"] and all(grant.get(column) == "Y" for column in required)

    def _error(self, exc: pymysql.MySQLError, action: str, *secrets: str) -> ProviderError:
        where = f"{self.config.host}:{self.config.port}"
        hide = (self.config.password, *secrets)
        code = _code(exc)
        if isinstance(exc, pymysql.InterfaceError) or code >= 2000:
            return ProviderError(
                scrub(f"cannot reach {self.server_name} at {where}: {_reason(exc)}", *hide),
                transient=True)
        message = f"{self.server_name} at {where}: {action} failed: ({code}) {_reason(exc)}"
        return ProviderError(scrub(message, *hide), transient=code in TRANSIENT_SERVER_ERRORS)


def _answers(conn: pymysql.connections.Connection) -> bool:
    try:
        conn.ping(reconnect=False)
    except pymysql.MySQLError:
        return False
    return True


#: This process's idle admin connections, of every MySQL-protocol instance.
_IDLE: IdleConnections[pymysql.connections.Connection] = IdleConnections(
    _answers, pymysql.connections.Connection.close)


class _AtConnectionLimit(ProviderError):
    """The tenant's login was refused because it holds all the connections it may."""


def _holds_all_privileges(grants: list[str], database: str) -> bool:
    """ALL PRIVILEGES on the database, or all but what a freeze takes (``mysql_quotas``)."""
    targets = (grant_target(database), f"{quote_identifier(database)}.*")
    for line in grants:
        for target in targets:
            privileges, on, _ = line.removeprefix("GRANT ").partition(f" ON {target} TO ")
            if on and line.startswith("GRANT ") and (
                    privileges == "ALL PRIVILEGES" or held_while_frozen(privileges.split(","))):
                return True
    return False


class TiDBAdapter(MySQLAdapter):
    """TiDB: the MySQL adapter with TiDB's session list, KILL and ``mysql.db`` layout.

    The admin's grants are those above; ``PROCESS`` and ``CONNECTION_ADMIN`` (or ``SUPER``)
    let ``delete`` end sessions on every TiDB node of the cluster.
    """

    key = "tidb"
    label = "TiDB"
    default_port = 4000
    server_name = "TiDB"
    #: TiDB added MAX_USER_CONNECTIONS in 2025 only; older servers refuse the statement.
    properties = {}
    #: Backups are made and tested on MySQL/MariaDB only.
    dump_format = ""
    #: Measuring and freezing are tested on MySQL/MariaDB only.
    measures_size = False

    #: PROCESSLIST lists the sessions of the TiDB node at hand; this one, the cluster's.
    _sessions = "SELECT ID FROM information_schema.CLUSTER_PROCESSLIST WHERE USER = %s"
    #: Ends a session on whichever node holds it (Global Kill, on by default since v6.1);
    #: before that, on the node the admin is connected to only.
    _kill = "KILL TIDB %s"
    _db_column = "DB"
    #: GRANT ALL on a database sets the privileges TiDB supports there, which vary by
    #: version; these ones every version sets.
    _all_privilege_columns = frozenset({
        "Select_priv", "Insert_priv", "Update_priv", "Delete_priv", "Create_priv",
        "Drop_priv", "Index_priv", "Alter_priv", "Execute_priv"})
