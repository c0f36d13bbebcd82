"""Backups of a MySQL/MariaDB resource: ``mysqldump --single-transaction`` (a consistent
snapshot of InnoDB tables, without locking them) and the ``mysql`` client, both logged in
as the resource's owner login (never the instance's admin).

A restore runs the dump's statements: each table it holds is dropped and made again with
its rows; tables made since the backup stay. The dump names the account that defined each
view and trigger (``DEFINER``), which only an account with SUPER may name again; the
restore makes them the restoring owner's (``DEFINER=CURRENT_USER``), so that a dump
restores into another resource too. MySQL cannot undo DDL, so a restore that
fails midway leaves the tables it reached restored (the backup's checksum is verified
before a restore starts, so a damaged backup never begins one).

A backup's manifest is the database's base tables, each with its exact row count, read by
the owner login in one consistent snapshot.

Emptying a resource (``empty``) drops, as the owner login, every view, table, sequence,
routine and event of its database (triggers go with their tables). The database and its
grants stay, so every login keeps its access to what is made there afterwards.
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
#: What ``empty`` drops, views first (they may read tables), each as (kind, name); bound:
#: the database's name, three times.
_OBJECTS = (
    "SELECT IF(TABLE_TYPE = 'VIEW', 'VIEW', 'TABLE'), TABLE_NAME FROM information_schema.TABLES"
    " WHERE TABLE_SCHEMA = %s"
    " UNION ALL SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES"
    " WHERE ROUTINE_SCHEMA = %s"
    " UNION ALL SELECT 'EVENT', EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s"
    " ORDER BY 1 = 'VIEW' DESC"
)
_KINDS = frozenset({"VIEW", "TABLE", "PROCEDURE", "FUNCTION", "EVENT"})
#: The definer of a view (``50013``) or trigger (``50017``) as mysqldump writes it.
_DEFINER = re.compile(rb"(/\*!500(?:13|17) DEFINER=)`(?:[^`]|``)*`@`(?:[^`]|``)*`")


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
        restore_stream(argv, program_environment(MYSQL_PWD=credentials.password),
                       _defined_by_restorer(chunks), "mysql", credentials.password)

    empties: ClassVar[bool] = True

    def empty(self, credentials: Credentials, *, owner: str) -> None:
        self._program_options(credentials)  # the owner's login and database, validated
        database = quote_identifier(credentials.database)
        try:
            conn = self._connect(credentials.username, credentials.password)
            with conn, conn.cursor() as cur:
                cur.execute("SET SESSION FOREIGN_KEY_CHECKS = 0")
                cur.execute(_OBJECTS, (credentials.database,) * 3)
                for kind, name in cur.fetchall():
                    if kind in _KINDS:  # one of ours; the names quoted
                        cur.execute(f"DROP {kind} IF EXISTS {database}.{quote_identifier(name)}")
        except pymysql.MySQLError as exc:
            raise self._error(exc, f"emptying {credentials.database}",
                              credentials.password) from None

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


def _defined_by_restorer(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The dump with every view's and trigger's definer made ``CURRENT_USER``, read line
    by line (a line is one statement at most; rows are never rewritten)."""
    pending = b""
    for chunk in chunks:
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        yield b"".join(_definer_free(line) + b"\n" for line in lines)
    if pending:
        yield _definer_free(pending)


def _definer_free(line: bytes) -> bytes:
    if line.startswith(b"INSERT INTO"):
        return line
    return _DEFINER.sub(rb"\1CURRENT_USER", line)
