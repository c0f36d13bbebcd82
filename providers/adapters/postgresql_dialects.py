"""PostgreSQL-compatible servers: the PostgreSQL adapter with their spelling of a few
statements (the class attributes under "dialect" in ``postgresql.py``). Only tested at
statement level; logins of their own are not offered on them yet."""

from __future__ import annotations

import psycopg
from psycopg import sql

from providers.adapters.postgresql import PostgreSQLAdapter
from providers.adapters.properties import PropertySpec


class CockroachDBAdapter(PostgreSQLAdapter):
    """CockroachDB: the PostgreSQL adapter with CockroachDB's spelling of a few statements.

    The admin is a member of ``admin``, or holds ``CREATEDB CREATEROLE CREATELOGIN`` and may
    grant itself the tenant roles it created (CockroachDB documents that for role admins;
    not verified). Passwords work on a secure cluster only, i.e. over TLS: set ``sslmode``.
    """

    key = "cockroachdb"
    label = "CockroachDB"
    login_access = frozenset()
    owner_rotates = False
    #: Backups are made and tested on PostgreSQL only.
    dump_format = ""
    #: Measuring and freezing are tested on PostgreSQL only.
    measures_size = False
    default_port = 26257
    #: No CONNECTION LIMIT role option.
    properties = {}

    #: No SUPERUSER and no INHERIT options: members always inherit a role's privileges.
    _create_role = sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} NOCREATEDB NOCREATEROLE")
    _reset_role = sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}")
    #: No TEMPORARY privilege on databases; CONNECT lets a role see a database's metadata.
    _database_privileges = sql.SQL("CONNECT")
    #: No aclexplode/acldefault: read the grants where SHOW GRANTS ON DATABASE reads them.
    _public_connect = sql.SQL(
        "EXISTS (SELECT 1 FROM \"\".crdb_internal.cluster_database_privileges p"
        " WHERE p.database_name = datname AND p.grantee = 'public'"
        " AND p.privilege_type IN ('CONNECT', 'ALL'))")
    _starts_with = sql.SQL("strpos({}, %s) = 1")
    #: No pg_terminate_backend. The tenant's sessions (login = database name) are visible
    #: and cancellable with VIEWACTIVITY and CANCELQUERY only; without, this ends none.
    _end_sessions = ("CANCEL SESSIONS IF EXISTS (SELECT session_id FROM [SHOW CLUSTER SESSIONS]"
                     " WHERE user_name = %s)")
    #: No FORCE: open sessions do not block the drop. CASCADE, the default, said explicitly.
    _drop_database = sql.SQL("DROP DATABASE IF EXISTS {} CASCADE")
    #: The server may report ``crdb-bcrypt``, unknown to libpq; it accepts SCRAM pre-hashed.
    _password_algorithm = b"scram-sha-256"

    @staticmethod
    def _create_database(cur: psycopg.Cursor, role: sql.Identifier) -> None:
        """CREATE DATABASE takes no OWNER here: the creator owns it, then hands it over."""
        cur.execute(sql.SQL("CREATE DATABASE {}").format(role))
        cur.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(role, role))


class YugabyteDBAdapter(PostgreSQLAdapter):
    """YugabyteDB's YSQL API: PostgreSQL 11 (15 from v2.25) on a distributed store."""

    key = "yugabytedb"
    label = "YugabyteDB"
    login_access = frozenset()
    owner_rotates = False
    dump_format = ""
    measures_size = False
    default_port = 5433
    properties = {
        "connection_limit": PropertySpec(
            "Most concurrent sessions the resource's login may hold on each node "
            "(empty: unlimited)", kind="integer", minimum=1, maximum=10_000),
    }

    #: No FORCE (PostgreSQL 13+). pg_stat_activity lists this node's sessions only; the drop
    #: itself invalidates and closes the connections left on every node.
    _drop_database = sql.SQL("DROP DATABASE IF EXISTS {}")
