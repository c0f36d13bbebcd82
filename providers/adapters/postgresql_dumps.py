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

Emptying a resource (``empty``) drops, in one transaction, every schema the owner role
owns (``public`` included) with all it holds, and the owner's large objects, then makes
``public`` again as the owner. The owner's default privileges (``ALTER DEFAULT
PRIVILEGES FOR ROLE``, global, not per schema) survive, so the resource's other logins
reach the new ``public`` and what the owner creates in it, as before.
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

#: The schemas ``empty`` drops: the owner role's (bound: its name), and ``public`` if the
#: database's owner (the owner role) holds it through ``pg_database_owner``.
_OWN_SCHEMAS = (
    "SELECT nspname FROM pg_namespace WHERE pg_get_userbyid(nspowner) IN (%s, "
    "'pg_database_owner') AND nspname NOT LIKE 'pg\\_%%' AND nspname <> 'information_schema'"
)
_OWN_LARGE_OBJECTS = (
    "SELECT lo_unlink(oid) FROM pg_largeobject_metadata WHERE pg_get_userbyid(lomowner) = %s")


class PostgreSQLDumps:
    """Mixed into the PostgreSQL adapter, whose ``config`` it uses."""

    config: InstanceConfig
    label: str
    dump_format: ClassVar[str] = "postgresql-custom"
    dump_compressed: ClassVar[bool] = True
    restores_atomically: ClassVar[bool] = True  # pg_restore --single-transaction

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

    empties: ClassVar[bool] = True

    def empty(self, credentials: Credentials, *, owner: str) -> None:
        role = require_backend_name(owner)
        self._program_target(credentials)  # the owner's login to its own database only
        with self._tenant(credentials.username, credentials.password, credentials.database,
                          "emptying the database") as conn, conn.transaction():
            conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
            schemas = [row[0] for row in conn.execute(_OWN_SCHEMAS, (role,))]
            for schema in schemas:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
            conn.execute(_OWN_LARGE_OBJECTS, (role,))
            conn.execute("CREATE SCHEMA IF NOT EXISTS public")

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
