"""MySQL/MariaDB logins of their own to a resource, one access level each.

A login is an account named after the resource with database-level grants by access level
(``LEVEL_PRIVILEGES``), so they cover the tables created later too; the resource's
deletion drops them. The server cannot expire an account here: the service's sweep ends
it.

Views, routines, triggers and events run as their definer: before the logins a rotation
replaced are removed, what they defined is handed over to the login that replaced them
(``mysql_definers``). An account that still defines some (a revoked credential's, or
what could not be handed over) is locked on removal, not dropped, so that they keep
working; the resource's deletion drops it. The owner's own account is locked, not dropped,
once a rotation of the owner replaced it.
"""

from __future__ import annotations

from pymysql.cursors import Cursor

from providers.adapters.base import (
    Access,
    Credentials,
    Login,
    require_backend_name,
    require_login_name,
)
from providers.adapters.mysql_names import grant_target

#: What a login of each access level may do on its resource's database.
LEVEL_PRIVILEGES = {
    Access.READ_ONLY: "SELECT, SHOW VIEW",
    Access.READ_WRITE: "SELECT, SHOW VIEW, INSERT, UPDATE, DELETE",
    Access.OWNER: "ALL PRIVILEGES",
}
#: Whether the account (bound four times: ``user@host``) defines a view, routine,
#: trigger or event.
_DEFINES_OBJECTS = (
    "SELECT 1 FROM information_schema.VIEWS WHERE DEFINER = %s UNION ALL "
    "SELECT 1 FROM information_schema.ROUTINES WHERE DEFINER = %s UNION ALL "
    "SELECT 1 FROM information_schema.TRIGGERS WHERE DEFINER = %s UNION ALL "
    "SELECT 1 FROM information_schema.EVENTS WHERE DEFINER = %s LIMIT 1")


class MySQLLogins:
    """``add_login``, ``remove_login`` and ``close_owner_login`` of the MySQL adapter,
    which this is mixed into: it uses the adapter's admin connection and helpers."""

    login_access = frozenset(LEVEL_PRIVILEGES)
    owner_rotates = True

    def add_login(self, backend_name: str, login: Login) -> Credentials:
        name = require_backend_name(backend_name)
        account = (require_login_name(login.name, name), self.user_host)
        with self._admin(f"adding login {login.name} to {name}", login.password) as cur:
            cur.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s",
                        (*account, login.password))
            cur.execute("ALTER USER %s@%s IDENTIFIED BY %s ACCOUNT UNLOCK",
                        (*account, login.password))
            cur.execute(f"GRANT {LEVEL_PRIVILEGES[login.access]} ON {grant_target(name)} "
                        "TO %s@%s", account)
            if login.frozen:
                self._apply_frozen(cur, name, login.name, login.access, frozen=True)
        return self.credentials(name, login.password, login=login.name)

    def remove_login(self, backend_name: str, login_name: str) -> None:
        """Ending the login's open sessions takes ``CONNECTION ADMIN``."""
        user = require_login_name(login_name, require_backend_name(backend_name))
        with self._admin(f"removing login {user}") as cur:
            if self._defines_objects(cur, user):
                self._lock(cur, user)
            else:
                cur.execute("DROP USER IF EXISTS %s@%s", (user, self.user_host))
            self._end_sessions(cur, user)

    def close_owner_login(self, backend_name: str) -> None:
        name = require_backend_name(backend_name)
        with self._admin(f"closing the owner login {name}") as cur:
            self._lock(cur, name)
            self._end_sessions(cur, name)

    def _lock(self, cur: Cursor, user: str) -> None:
        """No more logins for the account; its privileges stay, for what it defines."""
        cur.execute("ALTER USER IF EXISTS %s@%s ACCOUNT LOCK", (user, self.user_host))

    def _defines_objects(self, cur: Cursor, user: str) -> bool:
        definer = f"{user}@{self.user_host}"
        cur.execute(_DEFINES_OBJECTS, (definer,) * 4)
        return cur.fetchone() is not None
