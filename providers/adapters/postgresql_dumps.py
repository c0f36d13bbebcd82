"""Backups of a PostgreSQL resource: ``pg_dump --format=custom`` and ``pg_restore``, both
logged in as the resource's owner login (never the instance's admin).

A restore replaces, in one transaction, every object the backup holds (``--clean
--if-exists --single-transaction``): a restore that fails, or whose input is cut short,
leaves the database as it was. What it creates belongs to the owner role (``--no-owner
--role``), and its privileges are the owner's default privileges (``--no-privileges``),
so the resource's other credentials reach the restored tables as they reached the
originals. Objects made since the backup that it does not hold stay.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import ClassVar

from providers.adapters.base import Credentials, InstanceConfig, ProviderError, require_backend_name
from providers.adapters.dumps import dump_stream, program_environment, restore_stream
from providers.adapters.naming import is_login_of


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
