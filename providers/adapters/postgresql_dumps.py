"""Backups of a PostgreSQL resource: ``pg_dump --format=custom`` and ``pg_restore``, both
logged in as the resource's owner login (never the instance's admin).

A restore replaces, in one transaction, every object the backup holds (``--clean
--if-exists --single-transaction``): a restore that fails, or whose input is cut short,
leaves the database as it was. What it creates belongs to the owner role (``--no-owner
--role``), and its privileges are the owner's default privileges (``--no-privileges``),
so the resource's other credentials reach the restored tables as they reached the
originals. Objects made since the backup that it does not hold stay.

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

from psycopg import sql

from providers.adapters.base import Credentials, InstanceConfig, ProviderError, require_backend_name
from providers.adapters.dumps import dump_stream, program_environment, restore_stream
from providers.adapters.naming import is_login_of

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
