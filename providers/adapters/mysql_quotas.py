"""Sizes of MySQL/MariaDB resources, and freezing a resource over its size limit.

A resource's size is the sum of its tables' ``DATA_LENGTH + INDEX_LENGTH`` in
``information_schema.TABLES``: InnoDB's estimate, which MariaDB reads live and MySQL 8
caches for ``information_schema_stats_expiry`` seconds (a day by default; set it to 0 on
the server for sizes as fresh as the sweep).

Freezing revokes, on the resource's database, what adds data (``FROZEN_PRIVILEGES`` of
each account's level) and ends the accounts' sessions: the server reads database
privileges when a session selects its database. SELECT, DELETE, DROP (so TRUNCATE) stay,
so a tenant can get back under its limit itself: DROP TABLE and TRUNCATE TABLE free the
space at once, DELETE once the table is rebuilt. TRIGGER and EVENT stay too: they add no
data (a trigger or an event writes with its definer's privileges, which are frozen as
well), and a BACKUP of a frozen resource, run as its owner, needs them to read its
triggers and events. Unfreezing grants the level's privileges again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pymysql.cursors import Cursor

from providers.adapters.base import (
    Access,
    Size,
    require_backend_name,
    require_login_name,
)
from providers.adapters.mysql_logins import LEVEL_PRIVILEGES
from providers.adapters.mysql_names import grant_target

#: What a frozen account of each level loses on its database.
FROZEN_PRIVILEGES = {
    Access.READ_WRITE: ("INSERT", "UPDATE"),
    Access.OWNER: ("INSERT", "UPDATE", "CREATE", "ALTER", "INDEX", "CREATE VIEW",
                   "CREATE ROUTINE", "ALTER ROUTINE", "CREATE TEMPORARY TABLES"),
}
#: The ``mysql.db`` columns of the owner's ``FROZEN_PRIVILEGES``.
FROZEN_OWNER_COLUMNS = frozenset({
    "Insert_priv", "Update_priv", "Create_priv", "Alter_priv", "Index_priv",
    "Create_view_priv", "Create_routine_priv", "Alter_routine_priv",
    "Create_tmp_table_priv"})
_SIZES = (
    "SELECT s.SCHEMA_NAME, COALESCE(SUM(t.DATA_LENGTH + t.INDEX_LENGTH), 0)"
    " FROM information_schema.SCHEMATA s LEFT JOIN information_schema.TABLES t"
    " ON t.TABLE_SCHEMA = s.SCHEMA_NAME WHERE s.SCHEMA_NAME IN %s GROUP BY s.SCHEMA_NAME")


def held_while_frozen(privileges: Iterable[str]) -> bool:
    """Whether an owner's database privileges (``SHOW GRANTS`` names) are those of a frozen
    owner: all it holds but ``FROZEN_PRIVILEGES``, which CHECK accepts as in order."""
    held = {privilege.strip().upper() for privilege in privileges}
    return {"SELECT", "DELETE", "DROP"} <= held and not held & set(
        FROZEN_PRIVILEGES[Access.OWNER])


class MySQLQuotas:
    """``sizes``, ``freeze`` and ``unfreeze`` of the MySQL adapter, which this is mixed
    into: it uses the adapter's admin connection and helpers."""

    measures_size = True

    def sizes(self, backend_names: Iterable[str]) -> dict[str, Size]:
        names = tuple(require_backend_name(name) for name in backend_names)
        if not names:
            return {}
        with self._admin("measuring databases") as cur:
            cur.execute(_SIZES, (names,))
            return {name: Size(int(size)) for name, size in cur.fetchall()}

    def freeze(self, backend_name: str, logins: Mapping[str, Access]) -> list[str]:
        return self._set_frozen(backend_name, logins, frozen=True)

    def unfreeze(self, backend_name: str, logins: Mapping[str, Access]) -> list[str]:
        return self._set_frozen(backend_name, logins, frozen=False)

    def _set_frozen(self, backend_name: str, logins: Mapping[str, Access], *,
                    frozen: bool) -> list[str]:
        """Change the accounts whose INSERT privilege says they are not so yet."""
        name = require_backend_name(backend_name)
        levels = {require_login_name(login, name) if login != name else name: access
                  for login, access in logins.items() if access in FROZEN_PRIVILEGES}
        if not levels:
            return []
        action = "freezing" if frozen else "unfreezing"
        with self._admin(f"{action} {name}") as cur:
            cur.execute("SELECT User, Insert_priv FROM mysql.db WHERE Host = %s AND User IN %s",
                        (self.user_host, tuple(levels)))
            inserting = {user: flag == "Y" for user, flag in cur.fetchall()}
            changed = sorted(user for user, can_insert in inserting.items()
                             if can_insert == frozen)
            for user in changed:
                self._apply_frozen(cur, name, user, levels[user], frozen=frozen)
                self._end_sessions(cur, user)
        return changed

    def _apply_frozen(self, cur: Cursor, name: str, user: str, access: Access, *,
                      frozen: bool) -> None:
        """Take the level's writes from the account, or grant its level again; a read-only
        account has nothing to lose."""
        if frozen and access in FROZEN_PRIVILEGES:
            cur.execute(f"REVOKE {', '.join(FROZEN_PRIVILEGES[access])} ON "
                        f"{grant_target(name)} FROM %s@%s", (user, self.user_host))
        elif not frozen:
            cur.execute(f"GRANT {LEVEL_PRIVILEGES[access]} ON {grant_target(name)} TO %s@%s",
                        (user, self.user_host))
