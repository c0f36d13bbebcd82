"""The part of MongoDB's authorization that ``FakeMongod`` enforces: which built-in role
allows which action, on which database or on the cluster, and which action each command it
answers needs. Simplified from the server's built-in roles: only the actions of those
commands, and user administration as one set (the server also checks ``grantRole`` on
each role handed out).
"""

from __future__ import annotations

from typing import Any

READ = frozenset({"find", "listCollections"})
READ_WRITE = READ | {"insert", "createCollection"}
DB_ADMIN = frozenset({"createCollection", "dropDatabase", "listCollections"})
USER_ADMIN = frozenset({"createUser", "updateUser", "dropUser", "viewUser"})
#: A role's actions: on its own database, on every database (roles of ``admin`` only),
#: and on the cluster.
ROLES: dict[str, tuple[frozenset[str], frozenset[str], frozenset[str]]] = {
    "read": (READ, frozenset(), frozenset()),
    "readWrite": (READ_WRITE, frozenset(), frozenset()),
    "dbAdmin": (DB_ADMIN, frozenset(), frozenset()),
    "userAdmin": (USER_ADMIN, frozenset(), frozenset()),
    "dbOwner": (READ_WRITE | DB_ADMIN | USER_ADMIN, frozenset(), frozenset()),
    "readAnyDatabase": (frozenset(), READ, frozenset({"listDatabases"})),
    "userAdminAnyDatabase": (frozenset(), USER_ADMIN, frozenset({"listDatabases", "viewUser"})),
    "dbAdminAnyDatabase": (frozenset(), DB_ADMIN, frozenset({"listDatabases"})),
    "clusterMonitor": (frozenset(), frozenset(), frozenset({"inprog", "listDatabases"})),
    "hostManager": (frozenset(), frozenset(), frozenset({"killop", "killAnySession"})),
    "root": (frozenset(), READ_WRITE | DB_ADMIN | USER_ADMIN,
             frozenset({"listDatabases", "viewUser", "inprog", "killop", "killAnySession"})),
}
#: What each command needs: an action on its database, or (``CLUSTER``) on the cluster.
#: ``listDatabases`` is open to every user (it shows the databases they may use), and
#: ``ping`` to anyone.
CLUSTER = "cluster"
NEEDS: dict[str, tuple[str, str]] = {
    "find": ("find", "db"), "insert": ("insert", "db"),
    "listcollections": ("listCollections", "db"), "create": ("createCollection", "db"),
    "dropdatabase": ("dropDatabase", "db"), "createuser": ("createUser", "db"),
    "updateuser": ("updateUser", "db"), "dropuser": ("dropUser", "db"),
    "usersinfo": ("viewUser", "db"), "currentop": ("inprog", CLUSTER),
    "killop": ("killop", CLUSTER), "killallsessionsbypattern": ("killAnySession", CLUSTER),
}
NO_AUTHENTICATION = frozenset({"ping"})


def allows(roles: list[dict[str, Any]], action: str, database: str | None) -> bool:
    """Whether ``roles`` allow ``action`` on ``database`` (None: on the cluster)."""
    for held in roles:
        own, anywhere, cluster = ROLES.get(held["role"], (frozenset(),) * 3)
        if database is None:
            if held["db"] == "admin" and action in cluster:
                return True
        elif (held["db"] == database and action in own) or (
                held["db"] == "admin" and action in anywhere):
            return True
    return False
