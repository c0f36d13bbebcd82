"""Connections of the PostgreSQL adapter: the admin's, kept idle between operations
(``idle_connections``), and a tenant login's to check its password; psycopg errors
become ``ProviderError`` messages without secrets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from providers.adapters.base import InstanceConfig, ProviderError, scrub
from providers.adapters.idle_connections import IdleConnections, instance_key

_MAX_REASON = 200
#: Server-side refusals at connect time that go away by themselves.
_TRANSIENT_FATAL = re.compile(r"starting up|shutting down|recovery mode|too many|connection slots")
#: The role's CONNECTION LIMIT is reached; the server checks it after the password.
_ROLE_AT_LIMIT = re.compile(r"too many connections for role")


def _reason(exc: psycopg.Error) -> str:
    """The useful part of a libpq/server message, e.g. ``connection refused``."""
    lines = [line.strip() for line in (exc.diag.message_primary or str(exc)).splitlines()]
    lines = [line for line in lines if line] or [type(exc).__name__]
    line = next((x for x in reversed(lines) if " failed: " in x), lines[0])
    line = re.sub(r"^(FATAL|ERROR):\s+", "", line.rsplit(" failed: ", 1)[-1])
    if line[:2].istitle():  # "Connection refused" -> "connection refused"
        line = line[0].lower() + line[1:]
    return line[:_MAX_REASON]


class PostgreSQLConnections:
    """Mixed into the PostgreSQL adapter, whose ``config`` and ``label`` it uses."""

    config: InstanceConfig
    label: str

    def _connect(self, user: str, password: str, dbname: str) -> psycopg.Connection:
        """A raw autocommit connection; psycopg errors propagate unmapped.

        The server ends a statement after ``read_timeout``; the client gives up on a server
        that stopped answering (unacknowledged data, keepalive probes) after
        ``connect_timeout``, whatever a statement's length."""
        extra = {"sslmode": mode} if (mode := self.config.options.get("sslmode")) else {}
        patience = self.config.connect_timeout
        return psycopg.connect(
            host=self.config.host, port=self.config.port, user=user, password=password,
            dbname=dbname, autocommit=True, connect_timeout=patience,
            options=f"-c statement_timeout={self.config.read_timeout * 1000}",
            application_name="resourcemanager", tcp_user_timeout=patience * 1000,
            keepalives=1, keepalives_idle=patience, keepalives_interval=1,
            keepalives_count=patience, **extra,
        )

    @contextmanager
    def _admin(self, action: str, *secrets: str) -> Iterator[psycopg.Cursor]:
        """An admin cursor, on a connection kept from an earlier operation when one is
        idle (``idle_connections``); psycopg errors become ProviderErrors without
        secrets."""
        dbname = str(self.config.options.get("database") or "postgres")
        key = instance_key(self.config.host, self.config.port, self.config.username, dbname,
                           self.config.options.get("sslmode"), self.config.connect_timeout,
                           self.config.read_timeout, password=self.config.password)

        def connect() -> psycopg.Connection:
            try:
                return self._connect(self.config.username, self.config.password, dbname)
            except psycopg.Error as exc:  # `from None`: exc.pgconn holds the password
                raise self._connect_error(exc, "the admin login", *secrets) from None

        try:
            with _IDLE.borrowed(key, connect) as conn, conn.cursor() as cur:
                yield cur
        except psycopg.Error as exc:
            where = f"{self.config.host}:{self.config.port}"
            message = scrub(f"{self.label} at {where}: {action} failed: {_reason(exc)}",
                            self.config.password, *secrets)
            raise ProviderError(message,
                                transient=isinstance(exc, psycopg.OperationalError)) from None

    @contextmanager
    def _tenant(self, user: str, password: str, dbname: str, action: str
                ) -> Iterator[psycopg.Connection]:
        """A connection as a tenant's login to its database; psycopg errors become
        ProviderErrors without secrets."""
        try:
            conn = self._connect(user, password, dbname)
        except psycopg.Error as exc:
            raise self._connect_error(exc, f"login {user}", password) from None
        try:
            with conn:
                yield conn
        except psycopg.Error as exc:
            where = f"{self.config.host}:{self.config.port}"
            message = scrub(f"{self.label} at {where}: {action} failed: {_reason(exc)}",
                            password)
            raise ProviderError(message,
                                transient=isinstance(exc, psycopg.OperationalError)) from None

    def _connect_error(self, exc: psycopg.Error, who: str, *secrets: str) -> ProviderError:
        where, reason = f"{self.config.host}:{self.config.port}", _reason(exc)
        if "FATAL:" in str(exc) and not _TRANSIENT_FATAL.search(reason):
            message = f"{self.label} at {where} refused {who}: {reason}"
            return ProviderError(scrub(message, self.config.password, *secrets))
        message = f"cannot reach {self.label} at {where}: {reason}"
        return ProviderError(scrub(message, self.config.password, *secrets), transient=True)

    def _tenant_login(self, user: str, password: str, dbname: str) -> str | None:
        """None when the tenant can log in and query; else why the server refused it."""
        try:
            with self._connect(user, password, dbname) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            if _ROLE_AT_LIMIT.search(_reason(exc)):
                return None  # the password was accepted; every allowed session is in use
            error = self._connect_error(exc, f"login {user}", password)
            if error.transient:
                raise error from None
            return scrub(_reason(exc), password)
        return None


def _answers(conn: psycopg.Connection) -> bool:
    """Whether a kept connection is idle, outside a transaction, and answers as a role
    that still exists (a session outlives its role being dropped, and made again with
    the same name and password, and is then refused everything)."""
    if conn.closed or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        return False
    try:
        conn.execute("SELECT current_user")
    except psycopg.Error:
        return False
    return True


#: This process's idle admin connections, of every PostgreSQL-protocol instance.
_IDLE: IdleConnections[psycopg.Connection] = IdleConnections(_answers, psycopg.Connection.close)
