"""Handing what MySQL/MariaDB logins defined over to another login of the resource.

Views, triggers, stored routines and events run as the account that defined them (views
and routines unless ``SQL SECURITY INVOKER``), which must exist; and only a routine's
definer reads its definition, so an owner's backup leaves out the routines another
login defined (``mysql_dumps``). Before the logins a rotation replaced are dropped, what
they defined in the resource's database is defined again, as it is, by the credential's
new login: it keeps working once they are gone, the owner's backups hold it, and a
freeze (``mysql_quotas``) applies to it.

Each object is replaced in one statement (MariaDB's ``CREATE OR REPLACE``) from the
server's own definition (``SHOW CREATE``; a trigger's from ``information_schema``, kept
at its place among its table's triggers), under the object's ``sql_mode`` (and an event's
time zone; a view has none), so a failure leaves that object as it was: still defined by
the old login, which is then locked rather than dropped (``mysql_logins``), and the
failure is reported. Nothing is dropped first. MySQL 8 has no ``CREATE OR REPLACE`` for
triggers, routines and events: there only views are handed over, the rest keeps its old,
locked, definer.

On MariaDB naming another account as definer takes ``SET USER`` (or ``SUPER``; MySQL 8:
``SET_USER_ID``) and reading a routine's definition ``SELECT`` on ``mysql.proc`` (MySQL
8: ``SHOW_ROUTINE``), beyond the admin's usual grants (``providers.adapters.mysql``):
without them, nothing is handed over.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from itertools import groupby

import pymysql
from pymysql.cursors import Cursor

from providers.adapters.base import require_backend_name, require_login_name, scrub
from providers.adapters.mysql_names import printable, quote_identifier

#: The views, routines and events of a database defined by some accounts, as (kind, name);
#: bound: the database and the definers (``user@host``), three times.
_DEFINED = (
    "SELECT 'VIEW', TABLE_NAME FROM information_schema.VIEWS"
    " WHERE TABLE_SCHEMA = %s AND DEFINER IN %s"
    " UNION ALL SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES"
    " WHERE ROUTINE_SCHEMA = %s AND DEFINER IN %s"
    " UNION ALL SELECT 'EVENT', EVENT_NAME FROM information_schema.EVENTS"
    " WHERE EVENT_SCHEMA = %s AND DEFINER IN %s ORDER BY 1, 2")
#: Every trigger of a database, each table's in the order they fire (bound: the database).
_TRIGGERS = (
    "SELECT EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, TRIGGER_NAME, DEFINER,"
    " SQL_MODE, ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s"
    " ORDER BY 1, 2, 3, ACTION_ORDER")
#: A name as ``SHOW CREATE`` quotes it: with backticks, or double quotes in a routine
#: defined under ``ANSI_QUOTES``.
_QUOTED = r'(?:`(?:[^`]|``)*`|"(?:[^"]|"")*")'
#: Where a ``SHOW CREATE`` statement names its definer: the server writes it first.
_DEFINER_CLAUSE = re.compile(rf"\ACREATE ((?:ALGORITHM=[A-Z]+ )?)DEFINER={_QUOTED}@{_QUOTED} ")
#: ``SHOW CREATE`` of each kind: (the column of its sql_mode or None, of its time zone or
#: None, of the statement).
_SHOWN = {"VIEW": (None, None, 1), "PROCEDURE": (1, None, 2), "FUNCTION": (1, None, 2),
          "EVENT": (1, 2, 3)}
_TIMINGS = frozenset({"BEFORE", "AFTER"})
_TRIGGER_EVENTS = frozenset({"INSERT", "UPDATE", "DELETE"})


class MySQLDefiners:
    """``hand_over_definitions`` of the MySQL adapter, which this is mixed into: it uses
    the adapter's configuration and helpers."""

    def hand_over_definitions(self, backend_name: str, logins: Sequence[str],
                              heir: str) -> list[str]:
        name = require_backend_name(backend_name)
        accounts = tuple(f"{_own(login, name)}@{self.user_host}" for login in logins)
        if not accounts:
            return []
        definer = f"{quote_identifier(_own(heir, name))}@{quote_identifier(self.user_host)}"
        action = f"handing over what {', '.join(logins)} defined in {name} to {heir}"
        left: list[str] = []
        try:
            # A connection of its own: each object's sql_mode and time zone are set on it.
            conn = self._connect(self.config.username, self.config.password)
            with conn, conn.cursor() as cur:
                conn.select_db(name)
                for what, redefine in _redefinitions(cur, name, accounts, definer):
                    try:
                        for statement, args in redefine():
                            cur.execute(statement, args)
                    except _Unreadable as exc:
                        left.append(printable(f"{what} is still defined by its old login: "
                                              f"{exc}"))
                    except pymysql.MySQLError as exc:
                        error = self._error(exc, f"re-defining {what}")
                        if error.transient:  # all of it is tried again later
                            raise error from None
                        said = scrub(f"({exc.args[0]}) {exc.args[-1]}", self.config.password)
                        left.append(printable(f"{what} is still defined by its old login: "
                                              f"the server said {said}"))
        except pymysql.MySQLError as exc:
            raise self._error(exc, action) from None
        return left


#: The statements (each with its arguments) that define an object again; raise
#: ``_Unreadable`` or a driver error.
_Redefine = Callable[[], list[tuple[str, tuple | None]]]


class _Unreadable(Exception):
    """An object's definition is not one this module can define again."""


def _own(login: str, name: str) -> str:
    """A login of resource ``name``, or its owner's own account."""
    return name if login == name else require_login_name(login, name)


def _redefinitions(cur: Cursor, name: str, accounts: tuple[str, ...],
                   definer: str) -> Iterator[tuple[str, _Redefine]]:
    """Each object of database ``name`` defined by one of ``accounts``, named, with how
    to define it again by ``definer``."""
    cur.execute(_DEFINED, (name, accounts) * 3)
    for kind, obj in cur.fetchall():
        yield f"{kind.lower()} {quote_identifier(obj)}", partial(
            _shown_again, cur, kind, obj, definer)
    cur.execute(_TRIGGERS, (name,))
    for _, group in groupby(cur.fetchall(), key=lambda row: row[:3]):
        triggers = list(group)
        for at, (_, _, _, trigger, by, _, _) in enumerate(triggers):
            if by in accounts:
                yield f"trigger {quote_identifier(trigger)}", partial(
                    _trigger_again, triggers, at, definer)


def _shown_again(cur: Cursor, kind: str, obj: str, definer: str) -> list[tuple[str, tuple | None]]:
    """A view, routine or event defined again by ``definer``, from ``SHOW CREATE``."""
    mode_at, zone_at, statement_at = _SHOWN[kind]
    # Views and events are printed, and a view is defined again, the plain way (string
    # literals with backslash escapes); a routine is shown as it was written.
    cur.execute("SET SESSION sql_mode = ''")
    cur.execute(f"SHOW CREATE {kind} {quote_identifier(obj)}")
    shown = cur.fetchone()
    statement = shown[statement_at] if shown else None
    if statement is None:
        raise _Unreadable("the admin may not read its definition (SELECT on mysql.proc)")
    again, found = _DEFINER_CLAUSE.subn(
        lambda clause: f"CREATE OR REPLACE {clause.group(1)}DEFINER={definer} ", statement)
    if not found:
        raise _Unreadable("its definition does not name its definer first")
    settings = [(f"SET SESSION {variable} = %s", (shown[at],))
                for variable, at in (("sql_mode", mode_at), ("time_zone", zone_at))
                if at is not None]
    return [*settings, (again, None)]


def _trigger_again(triggers: list[tuple], at: int,
                   definer: str) -> list[tuple[str, tuple | None]]:
    """Trigger ``at`` of ``triggers`` (those of one table, timing and event, in the order
    they fire) defined again by ``definer``, at its place: before the one that fires next,
    or after the one before."""
    table, timing, event, trigger, _, sql_mode, body = triggers[at]
    if timing not in _TIMINGS or event not in _TRIGGER_EVENTS:
        raise _Unreadable(f"unexpected trigger timing {timing} {event}")
    if at + 1 < len(triggers):
        place = f" PRECEDES {quote_identifier(triggers[at + 1][3])}"
    else:
        place = f" FOLLOWS {quote_identifier(triggers[at - 1][3])}" if at else ""
    return [("SET SESSION sql_mode = %s", (sql_mode,)),
            (f"CREATE OR REPLACE DEFINER={definer} TRIGGER {quote_identifier(trigger)} {timing} "
             f"{event} ON {quote_identifier(table)} FOR EACH ROW{place} {body}", None)]
