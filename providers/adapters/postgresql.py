"""PostgreSQL: one database and one login role, both named ``backend_name``, per resource.

Identifiers are composed with ``psycopg.sql.Identifier``. CREATE/ALTER ROLE take no bind
parameters, so passwords go in as ``sql.Literal`` - hashed client-side into the server's
verifier format first, so the clear password reaches neither server logs nor
``pg_stat_activity``.

The instance admin need not be superuser (least privilege); this suffices::

    CREATE ROLE rm_admin LOGIN CREATEDB CREATEROLE PASSWORD '...';

PostgreSQL 15 lets a non-superuser create, re-own or drop a database owned by another role
only as a member of that role, so the adapter grants itself the tenant role around those
statements and revokes it right after: it keeps no standing access to tenant data.

CockroachDB and YugabyteDB (YSQL) speak the same protocol and catalog and differ in a few
statements only; their adapters are subclasses that replace those statements (the class
attributes under "dialect" below, and ``_create_database``), nothing else. Only PostgreSQL
itself is tested on a server; the others at statement level.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, ClassVar

import psycopg
from psycopg import sql

from providers.adapters import scram
from providers.adapters.base import (
    Access,
    CheckResult,
    Credentials,
    Inventory,
    Login,
    ProviderAdapter,
    require_backend_name,
    require_login_name,
    require_owner_login,
)
from providers.adapters.checkpoints import CREATE_HALF_DONE, DELETE_HALF_DONE, checkpoint
from providers.adapters.naming import is_login_of
from providers.adapters.postgresql_connections import PostgreSQLConnections
from providers.adapters.postgresql_dumps import PostgreSQLDumps
from providers.adapters.postgresql_logins import PostgreSQLLogins, group_names
from providers.adapters.postgresql_quotas import PostgreSQLQuotas
from providers.adapters.properties import PropertySpec

_AUTH_FAILED = re.compile(r"authentication failed")
#: True when PUBLIC holds CONNECT on the pg_database row (NULL datacl means the defaults).
_PUBLIC_CONNECT = sql.SQL(
    "EXISTS (SELECT 1 FROM aclexplode(COALESCE(datacl, acldefault('d', datdba))) a"
    " WHERE a.grantee = 0 AND a.privilege_type = 'CONNECT')")
#: Candidate databases, each with whether its same-named owner passes CHECK's catalog
#: tests: it logs in, or (its owner rotated) one of the resource's logins acts as it.
_INVENTORY_DATABASES = sql.SQL(
    "SELECT d.datname, d.datdba = r.oid AND NOT {public_connect}"
    " AND has_database_privilege(r.oid, d.oid, 'CONNECT') AND (r.rolcanlogin OR EXISTS ("
    "SELECT 1 FROM pg_auth_members m JOIN pg_roles l ON l.oid = m.member"
    " WHERE m.roleid = r.oid AND l.rolcanlogin"
    " AND left(l.rolname, length(d.datname) + 1) = d.datname || '_'))"
    " FROM pg_database d LEFT JOIN pg_roles r ON r.rolname = d.datname"
    " WHERE {prefixed}")


class PostgreSQLAdapter(PostgreSQLLogins, PostgreSQLQuotas, PostgreSQLDumps,
                        PostgreSQLConnections, ProviderAdapter):
    key = "postgresql"
    label = "PostgreSQL"
    resource_type = "sql"
    uri_scheme = "postgresql"
    uri_scheme_aliases = ("postgres",)
    url_path_option = "database"
    default_port = 5432
    instance_options = {
        "database": PropertySpec("Maintenance database the admin connects to (default "
                                 "'postgres')", max_length=63),
        "sslmode": PropertySpec("libpq sslmode for every connection, e.g. 'require' or "
                                "'verify-full'", kind="choice", choices=(
                                    "disable", "allow", "prefer", "require", "verify-ca",
                                    "verify-full")),
    }
    properties = {
        "connection_limit": PropertySpec(
            "Most concurrent sessions the resource's login may hold (empty: unlimited)",
            kind="integer", minimum=1, maximum=10_000),
    }

    # -- dialect: statements other PostgreSQL-compatible servers spell differently ----------

    #: INHERIT, not NOINHERIT: in PG15 the ``public`` schema belongs to ``pg_database_owner``,
    #: whose rights reach the database owner only by inheritance. Tenants belong to no other role.
    _create_role: ClassVar[sql.SQL] = sql.SQL(
        "CREATE ROLE {} LOGIN PASSWORD {} NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT")
    #: A retry, or a re-create: the existing role may log in with exactly this password.
    _reset_role: ClassVar[sql.SQL] = sql.SQL("ALTER ROLE {} WITH LOGIN INHERIT PASSWORD {}")
    #: Database privileges PUBLIC loses and the tenant keeps.
    _database_privileges: ClassVar[sql.SQL] = sql.SQL("CONNECT, TEMPORARY")
    #: Condition on a ``pg_database`` row: PUBLIC holds CONNECT on it.
    _public_connect: ClassVar[sql.SQL] = _PUBLIC_CONNECT
    #: Condition: the column ``{}`` starts with the bound prefix.
    _starts_with: ClassVar[sql.SQL] = sql.SQL("starts_with({}, %s)")
    #: Ends the sessions of the database (bound: its name) the admin may end.
    _end_sessions: ClassVar[str] = (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
        "AND pid <> pg_backend_pid() AND pg_has_role(usesysid, 'USAGE')")
    #: FORCE (PostgreSQL 13+) ends the sessions left, which the admin must be allowed to
    #: end too: it is a member of the owner and of its logins meanwhile.
    _drop_database: ClassVar[sql.SQL] = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
    #: libpq's password hashing; None follows the server's ``password_encryption``.
    _password_algorithm: ClassVar[bytes | None] = None

    # -- operations ---------------------------------------------------------------------

    def ping(self) -> None:
        with self._admin("ping") as cur:
            cur.execute("SELECT 1")

    def create(self, backend_name: str, password: str, properties: dict[str, Any]) -> Credentials:
        name = require_backend_name(backend_name)
        role = sql.Identifier(name)
        with self._admin(f"creating {name}", password) as cur:
            secret = self._verifier(cur, name, password)
            if self._role(cur, name) is None:
                cur.execute(self._create_role.format(role, secret))
            else:  # a retry, or a re-create: leave exactly this password
                cur.execute(self._reset_role.format(role, secret))
            self._apply_properties(cur, role, properties)
            checkpoint(CREATE_HALF_DONE)
            with self._member_of(cur, name):
                database = self._database(cur, name)
                if database is None:
                    self._create_database(cur, role)
                elif database[0] != name:
                    cur.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(role, role))
                self._close_database(cur, name, name)
        return self.credentials(name, password)

    def update(
        self, backend_name: str, properties: dict[str, Any], *, owner_login: str | None = None
    ) -> None:
        name = require_backend_name(backend_name)
        login = name if owner_login is None else require_login_name(owner_login, name)
        with self._admin(f"updating {name}") as cur:
            self._apply_properties(cur, sql.Identifier(login), properties)

    def delete(self, backend_name: str) -> None:
        name = require_backend_name(backend_name)
        with self._admin(f"deleting {name}") as cur:
            role_exists = self._role(cur, name) is not None
            cur.execute(sql.SQL("SELECT rolname FROM pg_roles WHERE {}")
                        .format(self._starts_with.format(sql.SQL("rolname"))), (f"{name}_",))
            roles = [row[0] for row in cur.fetchall()]
            logins = [role for role in roles if is_login_of(role, name)]
            groups = [role for role in roles if role in group_names(name)]
            if self._database(cur, name) is not None:
                # A non-superuser admin may end a role's sessions, DROP DATABASE … FORCE's
                # included, only as a member of it.
                with self._member_of(cur, *([name] if role_exists else []), *logins):
                    # A session ending meanwhile may refuse the signal; FORCE ends the rest.
                    with suppress(psycopg.errors.InsufficientPrivilege):
                        cur.execute(self._end_sessions, (name,))
                    cur.execute(self._drop_database.format(sql.Identifier(name)))
            checkpoint(DELETE_HALF_DONE)
            for role in [name, *logins, *groups]:  # its logins, then their groups
                cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))

    def check(
        self, credentials: Credentials, *, repair: bool, owner_login: str | None = None
    ) -> CheckResult:
        """An ``owner_login`` is a member of the owner role, which no longer logs in."""
        name = require_backend_name(credentials.database)
        user = require_owner_login(credentials.username, name, owner_login)
        role, password = sql.Identifier(user), credentials.password
        owner = sql.Identifier(name)
        repaired: list[str] = []

        def failed(message: str) -> CheckResult:
            return CheckResult(False, message, tuple(repaired))

        with self._admin(f"checking {name}", password) as cur:
            if self._database(cur, name) is None:
                return failed(f"database {name} no longer exists; its data is lost and "
                              "cannot be restored by a repair")
            can_login = self._role(cur, user)
            if owner_login is not None:
                problem = self._owner_login_problem(cur, name, user, can_login)
                if problem and not repair:
                    return failed(problem)
                if problem:
                    self._put_login(cur, name, Login(user, password, Access.OWNER))
                    repaired.append("login restored")
            elif not can_login:
                if not repair:
                    return failed(f"login {user} " + ("does not exist" if can_login is None
                                                      else "is not allowed to log in"))
                secret = self._verifier(cur, user, password)
                if can_login is None:
                    cur.execute(self._create_role.format(role, secret))
                    repaired.append("login re-created")
                else:
                    cur.execute(sql.SQL("ALTER ROLE {} WITH LOGIN").format(role))
                    repaired.append("login enabled")
            owned_by, public_connect = self._database(cur, name) or ("", False)
            if owned_by != name:
                if not repair:
                    return failed(f"database {name} is owned by {owned_by}, not by {name}")
                try:
                    with self._member_of(cur, name):
                        cur.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}")
                                    .format(owner, owner))
                except psycopg.errors.InsufficientPrivilege:
                    return failed(f"database {name} is owned by {owned_by}; the instance "
                                  f"admin may not hand it back to {name} (it must own the "
                                  f"database or be a member of {owned_by})")
                repaired.append("owner restored")
            cur.execute("SELECT has_database_privilege(%s, %s, 'CONNECT')", (user, name))
            if public_connect or not self._scalar(cur):
                if not repair:
                    return failed(f"CONNECT on database {name} is not limited to {name}")
                with self._member_of(cur, name):
                    self._close_database(cur, name, name)
                repaired.append("connect privileges restored")
            failure = self._tenant_login(user, password, name)
            if failure and _AUTH_FAILED.search(failure):
                if not repair:
                    return failed(f"login {user} rejects its stored password")
                cur.execute(sql.SQL("ALTER ROLE {} WITH PASSWORD {}")
                            .format(role, self._verifier(cur, user, password)))
                repaired.append("password reset")
                failure = self._tenant_login(user, password, name)
            if failure:
                return failed(f"login {user} cannot connect to {name}: {failure}")
        if repaired:
            return CheckResult(True, "repaired: " + ", ".join(repaired), tuple(repaired))
        return CheckResult(True, "database, login and privileges are in order")

    def inventory(self, prefix: str) -> Inventory:
        with self._admin("listing databases and logins") as cur:
            cur.execute(_INVENTORY_DATABASES.format(
                public_connect=self._public_connect,
                prefixed=self._starts_with.format(sql.SQL("d.datname"))), (prefix,))
            databases = cur.fetchall()
            cur.execute(sql.SQL("SELECT rolname FROM pg_roles WHERE {}")
                        .format(self._starts_with.format(sql.SQL("rolname"))), (prefix,))
            logins = [row[0] for row in cur.fetchall()]
        return Inventory.matching(prefix, databases=[name for name, _ in databases],
                                  logins=logins, healthy=[name for name, ok in databases if ok])

    def security_warnings(self) -> list[str]:
        names = self.public_connect_warnings()
        if not names:
            return []
        return [
            f"every login, tenants' included, may connect to {', '.join(names)}: close each "
            "with REVOKE CONNECT ON DATABASE <name> FROM PUBLIC (grant CONNECT to the roles "
            "that need it first)"
        ]

    def public_connect_warnings(self) -> list[str]:
        """Databases (templates aside) PUBLIC may still connect to; an operator should close
        them with ``REVOKE CONNECT ON DATABASE ... FROM PUBLIC``."""
        with self._admin("listing databases") as cur:
            cur.execute(sql.SQL("SELECT datname FROM pg_database WHERE NOT datistemplate "
                                "AND datallowconn AND {} ORDER BY datname")
                        .format(self._public_connect))
            return [row[0] for row in cur.fetchall()]

    # -- helpers --------------------------------------------------------------------------

    @contextmanager
    def _member_of(self, cur: psycopg.Cursor, *roles: str) -> Iterator[None]:
        """Make a non-superuser admin a member of ``roles`` for the duration of the block."""
        if not roles:
            yield
            return
        cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if self._scalar(cur):
            yield
            return
        granted = sql.SQL(", ").join(map(sql.Identifier, roles))
        cur.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(granted))
        try:
            yield
        finally:  # always: a membership left behind by a crash is removed by the next call
            cur.execute(sql.SQL("REVOKE {} FROM CURRENT_USER").format(granted))

    def _apply_properties(self, cur: psycopg.Cursor, role: sql.Identifier,
                          properties: dict[str, Any]) -> None:
        """Set the declared role options; a missing limit (None) is -1, unlimited."""
        if "connection_limit" in self.properties:
            limit = properties.get("connection_limit")
            cur.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT {}")
                        .format(role, sql.Literal(-1 if limit is None else int(limit))))

    @staticmethod
    def _create_database(cur: psycopg.Cursor, role: sql.Identifier) -> None:
        """Create the database named like ``role``, owned by it."""
        cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(role, role))

    def _close_database(self, cur: psycopg.Cursor, name: str, user: str) -> None:
        database, role = sql.Identifier(name), sql.Identifier(user)
        cur.execute(sql.SQL("REVOKE {} ON DATABASE {} FROM PUBLIC")
                    .format(self._database_privileges, database))
        cur.execute(sql.SQL("GRANT {} ON DATABASE {} TO {}")
                    .format(self._database_privileges, database, role))

    def _verifier(self, cur: psycopg.Cursor, user: str, password: str,
                  algorithm: str | None = None) -> sql.Literal:
        """The password hashed as the server stores it (SCRAM unless set to md5).
        ``algorithm``: the server's ``password_encryption`` when read already; SCRAM then
        comes from ``scram`` (faster than libpq) with the server's iteration count. Else
        libpq hashes, asking the server (a round trip) unless the dialect says how."""
        method = self._password_algorithm or (algorithm.encode() if algorithm else None)
        if algorithm == "scram-sha-256":
            iterations = cur.connection.info.parameter_status("scram_iterations")
            made = scram.verifier(password, int(iterations or scram.DEFAULT_ITERATIONS))
            if made is not None:
                return sql.Literal(made)
        hashed = cur.connection.pgconn.encrypt_password(password.encode(), user.encode(),
                                                        method)
        return sql.Literal(hashed.decode("ascii"))

    @staticmethod
    def _scalar(cur: psycopg.Cursor) -> Any:
        return row[0] if (row := cur.fetchone()) else None

    def _role(self, cur: psycopg.Cursor, name: str) -> bool | None:
        """``rolcanlogin`` of the role, or None when it does not exist."""
        return self._scalar(cur.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s",
                                        (name,)))

    def _database(self, cur: psycopg.Cursor, name: str) -> tuple[str, bool] | None:
        """(owner, PUBLIC may connect) of the database, or None when it does not exist."""
        cur.execute(sql.SQL("SELECT pg_get_userbyid(datdba), {} FROM pg_database "
                            "WHERE datname = %s").format(self._public_connect), (name,))
        return (row[0], row[1]) if (row := cur.fetchone()) else None

