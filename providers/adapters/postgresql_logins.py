"""PostgreSQL logins of their own to a resource, one access level each.

Each level is a NOLOGIN group role the logins are members of: ``<name>_ro`` (read-only)
and ``<name>_rw`` (read-write), made with its privileges when the first such login is
added; later logins only join it. Its privileges cover what exists then (every schema the
owner made, with its tables and sequences) and, by ``ALTER DEFAULT PRIVILEGES FOR ROLE
<owner>``, whatever the owner creates later. An owner login is a member of the owner
role itself and starts every session as it (``ALTER ROLE … SET role``), so what it
creates belongs to the owner, not to the login, and the login can go without taking
objects along.

When a rotation of the owner hands its credentials to an owner login, the owner role
itself is closed (``close_owner_login``: NOLOGIN, its sessions ended): it stays the group
role that owns the data, and CHECK verifies the owner through that login.

``valid_until`` becomes the role's ``VALID UNTIL``: the server itself refuses the password
afterwards. Removing a login forbids new sessions first, ends the open ones, hands
anything it still owns to the owner, then drops it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

import psycopg
from psycopg import sql

from providers.adapters.base import (
    Access,
    Credentials,
    Login,
    ProviderError,
    require_backend_name,
    require_login_name,
)

#: Group role suffix and privileges of each level short of the owner.
_GROUPS = {
    Access.READ_ONLY: ("ro", sql.SQL("SELECT"), sql.SQL("SELECT")),
    Access.READ_WRITE: ("rw", sql.SQL("SELECT, INSERT, UPDATE, DELETE"),
                        sql.SQL("SELECT, USAGE, UPDATE")),
}
_SCHEMAS_OF_OWNER = (
    "SELECT nspname FROM pg_namespace WHERE nspowner = %s::regrole OR nspname = 'public'"
)
#: What adding a login needs to know, in one round trip: whether the database, the login
#: and the level's group role exist, whether the database grants CONNECT to the group
#: itself, which completes it (``_complete_group``), and how the server hashes passwords.
_BEFORE_ADDING = (
    "SELECT EXISTS (SELECT FROM pg_database WHERE datname = %(database)s),"
    " EXISTS (SELECT FROM pg_roles WHERE rolname = %(login)s),"
    " EXISTS (SELECT FROM pg_roles WHERE rolname = %(group)s),"
    " EXISTS (SELECT FROM pg_database, aclexplode(datacl) AS acl, pg_roles AS r"
    " WHERE datname = %(database)s AND r.rolname = %(group)s AND acl.grantee = r.oid"
    " AND acl.privilege_type = 'CONNECT'),"
    " current_setting('password_encryption')"
)


def _group_of(name: str, access: Access) -> str:
    """The role whose members have ``access`` to resource ``name`` (the owner's own)."""
    return name if access == Access.OWNER else f"{name}_{_GROUPS[access][0]}"


def group_names(name: str) -> tuple[str, ...]:
    """The group roles the logins of resource ``name`` may belong to."""
    return tuple(f"{name}_{suffix}" for suffix, _, _ in _GROUPS.values())


class PostgreSQLLogins:
    """``add_login`` and ``remove_login`` of the PostgreSQL adapter, which this is mixed
    into: it uses the adapter's admin connection and catalog helpers."""

    login_access = frozenset(Access)

    def add_login(self, backend_name: str, login: Login) -> Credentials:
        name = require_backend_name(backend_name)
        user = require_login_name(login.name, name)
        with self._admin(f"adding login {user} to {name}", login.password) as cur:
            cur.execute(_BEFORE_ADDING, {"database": name, "login": user,
                                         "group": _group_of(name, login.access)})
            database, exists, group_made, group_complete, algorithm = cur.fetchone()
            if not database:
                raise ProviderError(f"database {name} does not exist")
            if login.access != Access.OWNER and not group_complete:
                self._complete_group(cur, name, login.access, made=group_made)
            self._put_login(cur, name, login, exists=exists, algorithm=algorithm)
        return self.credentials(name, login.password, login=user)

    def remove_login(self, backend_name: str, login_name: str) -> None:
        name = require_backend_name(backend_name)
        user = require_login_name(login_name, name)
        role = sql.Identifier(user)
        with self._admin(f"removing login {user} of {name}") as cur:
            if self._role(cur, user) is None:
                return
            cur.execute(sql.SQL("ALTER ROLE {} WITH NOLOGIN").format(role))
            with self._member_of(cur, user):
                self._end_sessions_of(cur, user)
                if self._database(cur, name) is not None:
                    with self._member_of(cur, name), self._in_database(name) as tenant:
                        tenant.execute(sql.SQL("REASSIGN OWNED BY {} TO {}")
                                       .format(role, sql.Identifier(name)))
                        tenant.execute(sql.SQL("DROP OWNED BY {}").format(role))
            cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(role))

    owner_rotates = True

    def close_owner_login(self, backend_name: str) -> None:
        """The owner role stays, NOLOGIN: a group role its owner logins act as."""
        name = require_backend_name(backend_name)
        with self._admin(f"closing the owner login {name}") as cur:
            if self._role(cur, name) is None:
                return
            cur.execute(sql.SQL("ALTER ROLE {} WITH NOLOGIN").format(sql.Identifier(name)))
            with self._member_of(cur, name):
                self._end_sessions_of(cur, name)

    def _put_login(self, cur: psycopg.Cursor, name: str, login: Login, *,
                   exists: bool | None = None, algorithm: str | None = None) -> None:
        """Make ``login`` exactly so: its password, validity, level (whose group role is
        complete) and whether it is frozen. ``exists``: whether the login does, and
        ``algorithm``: the server's ``password_encryption``, when these were read already.

        A new login is made in one statement, its membership included (``IN ROLE``), so
        that issuing costs the server one commit; one that exists (a retry, a repair) is
        altered back into shape."""
        user = login.name
        role = sql.Identifier(user)
        until = sql.Literal(login.valid_until.isoformat() if login.valid_until else "infinity")
        group = sql.Identifier(_group_of(name, login.access))
        secret = self._verifier(cur, user, login.password, algorithm)
        if exists is None:
            exists = self._role(cur, user) is not None
        if not exists:
            cur.execute(sql.SQL(
                "CREATE ROLE {} LOGIN PASSWORD {} VALID UNTIL {} NOSUPERUSER NOCREATEDB "
                "NOCREATEROLE INHERIT IN ROLE {}").format(role, secret, until, group))
        else:
            cur.execute(sql.SQL("ALTER ROLE {} WITH LOGIN INHERIT PASSWORD {} VALID UNTIL {}")
                        .format(role, secret, until))
            cur.execute(sql.SQL("GRANT {} TO {}").format(group, role))
        if login.access == Access.OWNER:
            cur.execute(sql.SQL("ALTER ROLE {} SET role = {}").format(role, sql.Literal(name)))
        if exists or login.frozen:  # a new role has no defaults to reset
            self._apply_read_only(cur, user, read_only=login.frozen)

    def _owner_login_problem(self, cur: psycopg.Cursor, name: str, user: str,
                             can_login: bool | None) -> str | None:
        """What keeps ``user`` from acting as owner ``name``, or None."""
        if can_login is None:
            return f"login {user} does not exist"
        if not can_login:
            return f"login {user} is not allowed to log in"
        cur.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", (user, name))
        if not self._scalar(cur):
            return f"login {user} is not a member of the owner {name}"
        return None

    @staticmethod
    def _end_sessions_of(cur: psycopg.Cursor, user: str) -> None:
        """End the open sessions of ``user`` (the admin must be a member of it)."""
        # A session that is ending by itself may refuse the signal.
        with suppress(psycopg.errors.InsufficientPrivilege):
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE usename = %s AND pid <> pg_backend_pid()", (user,))

    def _complete_group(self, cur: psycopg.Cursor, name: str, access: Access, *,
                        made: bool) -> None:
        """Make the group role of ``access`` (unless ``made``) with its privileges. CONNECT
        on the database is granted last: a group that holds it is complete (its default
        privileges cover what the owner creates later), and one without it, whose making
        was cut short, is completed now."""
        suffix, on_tables, on_sequences = _GROUPS[access]
        ident, owner = sql.Identifier(f"{name}_{suffix}"), sql.Identifier(name)
        if not made:
            cur.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(ident))
        with self._member_of(cur, name), self._in_database(name) as tenant:
            schemas = [row[0] for row in tenant.execute(_SCHEMAS_OF_OWNER, (name,))]
            for schema in map(sql.Identifier, schemas):
                tenant.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, ident))
                tenant.execute(sql.SQL("GRANT {} ON ALL TABLES IN SCHEMA {} TO {}")
                               .format(on_tables, schema, ident))
                tenant.execute(sql.SQL("GRANT {} ON ALL SEQUENCES IN SCHEMA {} TO {}")
                               .format(on_sequences, schema, ident))
            for grant in (sql.SQL("USAGE ON SCHEMAS"), sql.SQL("{} ON TABLES").format(on_tables),
                          sql.SQL("{} ON SEQUENCES").format(on_sequences)):
                tenant.execute(sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} GRANT {} TO {}")
                               .format(owner, grant, ident))
            cur.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(owner, ident))

    @contextmanager
    def _in_database(self, name: str) -> Iterator[psycopg.Cursor]:
        """An admin cursor in the tenant database (the admin must reach it: a member of
        its owner); errors are mapped by the enclosing ``_admin`` block."""
        with self._connect(self.config.username, self.config.password, name) as conn:
            yield conn.cursor()
