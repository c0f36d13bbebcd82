"""Sizes of PostgreSQL resources, and freezing a resource over its size limit.

A frozen resource's roles (the owner's and every login's) default to read-only
transactions: ``ALTER ROLE … SET default_transaction_read_only = on``. The server applies
a role's settings when a session starts, so the sessions of a role changed are ended. In
read-only transactions INSERT, UPDATE, DELETE and DDL are refused alike: a frozen
resource gets back under its limit when an operator raises the limit (or the data shrinks
by other means). The setting is a default, not a privilege: a client that asks for a
read-write transaction explicitly (``SET default_transaction_read_only = off``) still
gets one, so the freeze stops growth by ordinary clients, not a determined tenant.

Measuring takes ``pg_database_size``, which needs CONNECT on the database or membership
of ``pg_read_all_stats``; the least-privilege admin is granted the latter (it reads
statistics, never data)::

    GRANT pg_read_all_stats TO rm_admin;
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import psycopg
from psycopg import sql

from providers.adapters.base import (
    Access,
    Size,
    require_backend_name,
    require_login_name,
)

_READ_ONLY = "default_transaction_read_only=on"
#: The roles (bound: an array of names) whose own settings, for every database, make
#: their transactions read-only.
_READ_ONLY_ROLES = (
    "SELECT r.rolname FROM pg_roles r JOIN pg_db_role_setting s"
    " ON s.setrole = r.oid AND s.setdatabase = 0"
    " WHERE r.rolname = ANY(%s) AND %s = ANY(s.setconfig)")


class PostgreSQLQuotas:
    """``sizes``, ``freeze`` and ``unfreeze`` of the PostgreSQL adapter, which this is mixed
    into: it uses the adapter's admin connection and catalog helpers."""

    measures_size = True

    def sizes(self, backend_names: Iterable[str]) -> dict[str, Size]:
        names = [require_backend_name(name) for name in backend_names]
        if not names:
            return {}
        with self._admin("measuring databases") as cur:
            cur.execute("SELECT datname, pg_database_size(oid) FROM pg_database"
                        " WHERE datname = ANY(%s)", (names,))
            return {name: Size(int(size)) for name, size in cur.fetchall()}

    def freeze(self, backend_name: str, logins: Mapping[str, Access]) -> list[str]:
        return self._set_read_only(backend_name, logins, read_only=True)

    def unfreeze(self, backend_name: str, logins: Mapping[str, Access]) -> list[str]:
        return self._set_read_only(backend_name, logins, read_only=False)

    def _set_read_only(self, backend_name: str, logins: Mapping[str, Access], *,
                       read_only: bool) -> list[str]:
        name = require_backend_name(backend_name)
        roles = sorted({name, *(require_login_name(login, name)
                                for login in logins if login != name)})
        action = "freezing" if read_only else "unfreezing"
        with self._admin(f"{action} {name}") as cur:
            cur.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (roles,))
            existing = {row[0] for row in cur.fetchall()}
            cur.execute(_READ_ONLY_ROLES, (roles, _READ_ONLY))
            frozen = {row[0] for row in cur.fetchall()}
            changed = sorted(existing - frozen if read_only else frozen)
            for role in changed:
                self._apply_read_only(cur, role, read_only=read_only)
                with self._member_of(cur, role):
                    self._end_sessions_of(cur, role)
        return changed

    @staticmethod
    def _apply_read_only(cur: psycopg.Cursor, role: str, *, read_only: bool) -> None:
        """Set (or reset) the role's read-only default; its new sessions take it."""
        statement = ("ALTER ROLE {} SET default_transaction_read_only = on" if read_only
                     else "ALTER ROLE {} RESET default_transaction_read_only")
        cur.execute(sql.SQL(statement).format(sql.Identifier(role)))
