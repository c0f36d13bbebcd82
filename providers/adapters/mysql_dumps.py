"""Backups of a MySQL/MariaDB resource: ``mysqldump --single-transaction`` (a consistent
snapshot of InnoDB tables, without locking them) and the ``mysql`` client, both logged in
as the resource's owner login (never the instance's admin).

The dump holds the tables, views, triggers, stored routines (procedures, functions) and
events, as far as the owner login may read them (``_readable``). Only a routine's definer,
or a reader of ``mysql.proc`` (every database's routines: no tenant is given that), may
read its definition: when another login defined one (the owner's login before a
rotation, another owner-level login), the dump leaves the routines out. Events take the
EVENT privilege on the database (an owner keeps it, frozen too: ``mysql_quotas``); a
login without it leaves them out. A comment at the dump's end says what it left out, and why.

A restore runs the dump's statements: each table it holds is dropped and made again with
its rows, each routine, event and view too; objects made since the backup stay. The dump
names the account that defined each view, trigger, routine and event (``DEFINER``), which
only an account with SUPER may name again; the restore makes them the restoring owner's
(``DEFINER=CURRENT_USER``), so that a dump restores into another resource too. MySQL
cannot undo DDL, so a restore that fails midway leaves the objects it reached restored
(the backup's checksum is verified before a restore starts, so a damaged backup never
begins one).

A backup's manifest is the database's base tables, each with its exact row count, read by
the owner login in one consistent snapshot.

Emptying a resource (``empty``) drops, as the owner login, every view, table, sequence,
routine and event of its database (triggers go with their tables). The database and its
grants stay, so every login keeps its access to what is made there afterwards.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from itertools import chain
from typing import ClassVar

import pymysql

from providers.adapters.base import Credentials, InstanceConfig, ProviderError
from providers.adapters.dumps import dump_stream, program_environment, restore_stream
from providers.adapters.mysql_names import printable, quote_identifier

logger = logging.getLogger(__name__)

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
#: The definer of a view (``50013``), trigger (``50017``), event (``50117``) or routine
#: (``CREATE DEFINER=``; ``50020`` from older servers), where mysqldump writes it: at the
#: start of a line, which a row never begins so.
_DEFINER = re.compile(
    rb"\A((?:/\*!50013 |/\*!50003 CREATE\*/ /\*!500(?:17|20) |/\*!50106 CREATE\*/ /\*!50117 "
    rb"|CREATE )DEFINER=)`(?:[^`]|``)*`@`(?:[^`]|``)*`")
#: The routines whose definition the login may not read (bound: the database).
_UNREADABLE_ROUTINES = (
    "SELECT ROUTINE_TYPE, ROUTINE_NAME, DEFINER FROM information_schema.ROUTINES"
    " WHERE ROUTINE_SCHEMA = %s AND ROUTINE_DEFINITION IS NULL ORDER BY 1, 2")
#: The login may not use the database as asked (here: SHOW EVENTS without EVENT).
_DATABASE_ACCESS_DENIED = 1044


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
        options, left_out = self._readable(credentials)
        argv = ["mysqldump", *self._program_options(credentials), "--single-transaction",
                "--no-tablespaces", "--triggers", *options, "--hex-blob", credentials.database]
        if left_out:
            logger.warning("the dump of %s leaves out %s", credentials.database,
                           "; ".join(left_out))
        return _noted(dump_stream(argv, program_environment(MYSQL_PWD=credentials.password),
                                  "mysqldump", credentials.password), left_out)

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

    def _readable(self, credentials: Credentials) -> tuple[list[str], list[str]]:
        """mysqldump's options for the routines and events the owner login may read, and
        what they leave out, why."""
        self._program_options(credentials)  # plain identifiers only
        database = credentials.database
        try:
            conn = self._connect(credentials.username, credentials.password)
            with conn, conn.cursor() as cur:
                cur.execute(_UNREADABLE_ROUTINES, (database,))
                unreadable = [f"{kind.lower()} {quote_identifier(name)} (defined by {definer})"
                              for kind, name, definer in cur.fetchall()]
                try:
                    cur.execute(f"SHOW EVENTS FROM {quote_identifier(database)}")
                    events = True
                except pymysql.MySQLError as exc:
                    if exc.args[:1] != (_DATABASE_ACCESS_DENIED,):
                        raise
                    events = False
        except pymysql.MySQLError as exc:
            raise self._error(exc, f"listing the routines and events of {database}",
                              credentials.password) from None
        options, left_out = ["--routines", "--events"], []
        if unreadable:
            options[0] = "--skip-routines"
            left_out.append(f"stored routines, as login {credentials.username} may not "
                            f"read what another login defined: {', '.join(unreadable)}")
        if not events:
            options[1] = "--skip-events"
            left_out.append(f"events: login {credentials.username} lacks the EVENT "
                            f"privilege on {database} (as while the resource is frozen)")
        return options, left_out

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


@contextmanager
def _noted(dump: AbstractContextManager[Iterator[bytes]], left_out: list[str]
           ) -> Iterator[Iterator[bytes]]:
    """``dump``, then a comment line for each thing in ``left_out`` (control characters
    escaped, so that no name ends the comment)."""
    note = "".join(f"\n-- Left out of this dump: {printable(each)}"
                   for each in left_out)
    with dump as chunks:
        yield chain(chunks, [note.encode() + b"\n"] if note else [])


def _defined_by_restorer(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The dump with the definer of every view, trigger, routine and event made
    ``CURRENT_USER``, read line by line (rows are never rewritten)."""
    pending = b""
    for chunk in chunks:
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        yield b"".join(_definer_free(line) + b"\n" for line in lines)
    if pending:
        yield _definer_free(pending)


def _definer_free(line: bytes) -> bytes:
    return _DEFINER.sub(rb"\1CURRENT_USER", line, count=1)
