"""Backups of a MySQL/MariaDB resource: ``mysqldump --single-transaction`` (a consistent
snapshot of InnoDB tables, without locking them) and the ``mysql`` client, both logged in
as the resource's owner login (never the instance's admin).

A restore runs the dump's statements: each table it holds is dropped and made again with
its rows; tables made since the backup stay. MySQL cannot undo DDL, so a restore that
fails midway leaves the tables it reached restored (the backup's checksum is verified
before a restore starts, so a damaged backup never begins one).

A backup's manifest is the database's base tables, each with its exact row count, read by
the owner login in one consistent snapshot.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import ClassVar

import pymysql

from providers.adapters.base import Credentials, InstanceConfig, ProviderError
from providers.adapters.dumps import dump_stream, program_environment, restore_stream
from providers.adapters.mysql_names import quote_identifier

_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
#: The comment ``mysqldump`` writes first (after MariaDB's sandbox-mode line, if any).
_DUMP_BANNER = re.compile(rb"\A(?:/\*M?!\d+[^\n]*\n)?-- (?:MySQL|MariaDB) dump ")


class MySQLDumps:
    """Mixed into the MySQL adapter, whose ``config`` it uses."""

    config: InstanceConfig
    dump_format: ClassVar[str] = "mysql-sql"
    dump_compressed: ClassVar[bool] = False
    dump_extension: ClassVar[str] = "sql"

    @classmethod
    def is_dump(cls, head: bytes) -> bool:
        """A ``mysqldump`` (MySQL's or MariaDB's) begins with its banner comment."""
        return _DUMP_BANNER.match(head) is not None

    def dump(self, credentials: Credentials) -> AbstractContextManager[Iterator[bytes]]:
        argv = ["mysqldump", *self._program_options(credentials), "--single-transaction",
                "--no-tablespaces", "--triggers", "--hex-blob", credentials.database]
        return dump_stream(argv, program_environment(MYSQL_PWD=credentials.password),
                           "mysqldump", credentials.password)

    def restore(self, credentials: Credentials, chunks: Iterable[bytes], *, owner: str) -> None:
        argv = ["mysql", *self._program_options(credentials), "--batch",
                f"--database={credentials.database}"]
        restore_stream(argv, program_environment(MYSQL_PWD=credentials.password), chunks,
                       "mysql", credentials.password)

    def manifest(self, credentials: Credentials) -> dict[str, int]:
        self._program_options(credentials)  # plain identifiers only
        action = f"counting the rows of {credentials.database}"
        try:
            conn = self._connect(credentials.username, credentials.password)
        except pymysql.MySQLError as exc:
            raise self._error(exc, action, credentials.password) from None
        try:
            with conn.cursor() as cur:
                cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE "
                            "TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1",
                            (credentials.database,))
                tables = [row[0] for row in cur.fetchall()]
                database, counts = quote_identifier(credentials.database), {}
                for table in tables:
                    named = f"{database}.{quote_identifier(table)}"
                    cur.execute(f"SELECT COUNT(*) FROM {named}")  # noqa: S608 - quoted names
                    counts[table] = cur.fetchone()[0]
                return counts
        except pymysql.MySQLError as exc:
            raise self._error(exc, action, credentials.password) from None
        finally:
            conn.close()

    def _program_options(self, credentials: Credentials) -> list[str]:
        """No option file is read (``--no-defaults``: not the service account's); the
        instance's own address, as the owner login."""
        for value in (credentials.username, credentials.database):
            if not _NAME.fullmatch(value):
                raise ProviderError(f"refusing identifier {value!r}")
        options = ["--no-defaults", f"--host={self.config.host}", f"--port={self.config.port}",
                   "--protocol=TCP", f"--user={credentials.username}",
                   "--default-character-set=utf8mb4"]
        if ca := self.config.options.get("ssl_ca"):
            options += [f"--ssl-ca={ca}", "--ssl-verify-server-cert"]
        return options
