"""Backups of a PostgreSQL resource: ``pg_dump --format=custom`` and ``pg_restore``, both
logged in as the resource's owner login (never the instance's admin).

A restore replaces, in one transaction, every object the backup holds (``--clean
--if-exists --single-transaction``): a restore that fails, or whose input is cut short,
leaves the database as it was. What it creates belongs to the owner role (``--no-owner
--role``), and its privileges are the owner's default privileges (``--no-privileges``),
so the resource's other credentials reach the restored tables as they reached the
originals. Objects made since the backup that it does not hold stay.

A backup's manifest is the tables of every schema but the system's, each with its exact
row count, read by the owner login in one read-only snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import ClassVar

import psycopg
from psycopg import sql

from providers.adapters.base import (
    Credentials,
    InstanceConfig,
    ProviderError,
    require_backend_name,
    scrub,
)
from providers.adapters.dumps import dump_stream, program_environment, restore_stream
from providers.adapters.naming import is_login_of
from providers.adapters.postgresql_connections import _reason

_TABLES = (
    "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema'"
    " AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, 2")


class PostgreSQLDumps:
    """Mixed into the PostgreSQL adapter, whose ``config`` it uses."""

    config: InstanceConfig
    label: str
    dump_format: ClassVar[str] = "postgresql-custom"
    dump_compressed: ClassVar[bool] = True

    @classmethod
    def is_dump(cls, head: bytes) -> bool:
        """A custom-format archive (``pg_dump --format=custom``) starts with its magic."""
        return head.startswith(b"PGDMP")

    def dump(self, credentials: Credentials) -> AbstractContextManager[Iterator[bytes]]:
        return dump_stream(["pg_dump", "--format=custom", *self._program_target(credentials)],
                           self._program_environment(credentials), "pg_dump",
                           credentials.password)

    def restore(self, credentials: Credentials, chunks: Iterable[bytes], *, owner: str) -> None:
        argv = ["pg_restore", "--clean", "--if-exists", "--single-transaction", "--no-owner",
                "--no-privileges", f"--role={require_backend_name(owner)}",
                *self._program_target(credentials)]
        restore_stream(argv, self._program_environment(credentials), chunks, "pg_restore",
                       credentials.password)

    def manifest(self, credentials: Credentials) -> dict[str, int]:
        self._program_target(credentials)  # the owner login of the resource's database
        try:
            with self._connect(credentials.username, credentials.password,
                               credentials.database) as conn:
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                tables = conn.execute(_TABLES).fetchall()
                return {f"{schema}.{table}": conn.execute(
                    sql.SQL("SELECT count(*) FROM {}.{}").format(
                        sql.Identifier(schema), sql.Identifier(table))).fetchone()[0]
                        for schema, table in tables}
        except psycopg.Error as exc:  # `from None`: exc.pgconn holds the password
            where = f"{self.config.host}:{self.config.port}"
            raise ProviderError(
                scrub(f"{self.label} at {where}: counting the rows of {credentials.database} "
                      f"failed: {_reason(exc)}", credentials.password),
                transient=isinstance(exc, psycopg.OperationalError)) from None

    def _program_target(self, credentials: Credentials) -> list[str]:
        """Where the programs connect: the instance's own address (the admin's way to the
        server), as the owner login, to the resource's database."""
        database = require_backend_name(credentials.database)
        if credentials.username != database and not is_login_of(credentials.username, database):
            raise ProviderError(f"refusing login {credentials.username!r} for {database!r}")
        return [f"--host={self.config.host}", f"--port={self.config.port}",
                f"--username={credentials.username}", f"--dbname={database}", "--no-password"]

    def _program_environment(self, credentials: Credentials) -> dict[str, str]:
        variables = {"PGPASSWORD": credentials.password, "PGPASSFILE": "/dev/null",
                     "PGCONNECT_TIMEOUT": str(self.config.connect_timeout),
                     "PGAPPNAME": "resourcemanager"}
        if mode := self.config.options.get("sslmode"):
            variables["PGSSLMODE"] = str(mode)
        return program_environment(**variables)
