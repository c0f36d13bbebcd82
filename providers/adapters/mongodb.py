"""MongoDB: one database and one user, both named ``backend_name``, per resource.

The user is defined in its own database (its ``authSource``) and holds exactly one role,
``dbOwner`` on that database. Names travel as BSON values of the commands (``createUser``,
``usersInfo``, ...), never inside strings we build.

MongoDB lists a database only while it holds a collection, so CREATE makes an empty marker
collection, ``_resourcemanager``, for CHECK, the batched sweep and the orphan scan to see
the database by. The tenant owns it like everything else there: a database whose
collections were all dropped, the marker included, cannot be told from a dropped one, and
CHECK reports it gone.

``createUser``/``updateUser`` carry the clear password to the server, which derives its
SCRAM verifiers from it; set the ``tls`` option when the network is not trusted. pymongo
leaves those commands and the SASL conversation out of its command logging and monitoring.

The instance admin is defined in ``auth_source`` (default ``admin``) and needs user
administration and ``createCollection``/``dropDatabase`` on every tenant database, plus
``listDatabases`` and ``viewUser`` across databases for the batched sweep. MongoDB cannot
limit those to a name prefix; the built-in roles ``userAdminAnyDatabase`` and
``dbAdminAnyDatabase`` cover them (``userAdminAnyDatabase`` can grant itself any role:
guard the account like ``root``).

Logins of their own (``add_login``) are further users defined in the resource's database,
each with one built-in role on it by access level (``LEVEL_ROLES``); they are named after
the resource, so its deletion drops them. MongoDB has no expiry of its own: a login's
``valid_until`` is kept by the service's sweep, which revokes it. Removing a login drops
the user, then ends what it still runs: its operations (``currentOp``, ``killOp``) and
its sessions with their cursors (``killAllSessionsByPattern``). That takes ``inprog``,
``killop`` and ``killAnySession`` (the built-in roles ``clusterMonitor`` and
``hostManager``); without them the operations already running finish by themselves, and
nothing more runs as the user: the server forgets a dropped user at its next command.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlencode

from bson import Binary
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

from providers.adapters.base import (
    Access,
    CheckResult,
    Credentials,
    Inventory,
    Login,
    ProviderAdapter,
    ProviderError,
    require_backend_name,
    require_login_name,
    require_owner_login,
    scrub,
)
from providers.adapters.checkpoints import CREATE_HALF_DONE, DELETE_HALF_DONE, checkpoint
from providers.adapters.naming import is_login_of
from providers.adapters.properties import PropertySpec

#: The collection that keeps a new, otherwise empty database listed.
MARKER_COLLECTION = "_resourcemanager"
OWNER_ROLE = "dbOwner"
#: The built-in role a login of each access level holds on its resource's database.
LEVEL_ROLES = {Access.READ_ONLY: "read", Access.READ_WRITE: "readWrite",
               Access.OWNER: OWNER_ROLE}
UNAUTHORIZED = 13
AUTHENTICATION_FAILED = 18
USER_NOT_FOUND = 11
NAMESPACE_EXISTS = 48
USER_ALREADY_EXISTS = 51003
#: Server errors worth retrying: unreachable peers, timeouts, shutdown, primary elections.
TRANSIENT_CODES = frozenset({6, 7, 50, 89, 91, 112, 189, 262, 9001, 10107, 11600, 11602,
                             13435, 13436})
_MAX_REASON = 200


def owner_roles(database: str) -> list[dict[str, str]]:
    """The only roles a tenant user holds."""
    return login_roles(database, Access.OWNER)


def login_roles(database: str, access: Access) -> list[dict[str, str]]:
    """The only roles a login of ``access`` holds: its level's, on its database."""
    return [{"role": LEVEL_ROLES[access], "db": database}]


def session_owner(user: str, database: str) -> Binary:
    """The ``uid`` the server gives the sessions of ``user`` defined in ``database``: the
    SHA-256 of ``user@database``. Killing sessions by it takes ``killAnySession`` only; a
    ``users`` pattern would also take ``impersonate``, which no built-in role grants."""
    return Binary(hashlib.sha256(f"{user}@{database}".encode()).digest())


def held_roles(user: dict[str, Any]) -> frozenset[tuple[str, str]]:
    """(role, db) pairs of a ``usersInfo`` user document."""
    return frozenset((role["role"], role["db"]) for role in user.get("roles", ()))


def _flag(value: Any) -> bool:
    """An option that arrives as JSON ``true`` or, from a URL, as the text ``true``."""
    return value is True or str(value).strip().lower() in {"1", "true", "yes", "on"}


def _server_error(exc: PyMongoError) -> dict[str, Any]:
    """The server's error reply behind ``exc`` (``code``, ``errmsg``), or ``{}``."""
    details = getattr(exc, "details", None)
    return details if isinstance(details, dict) else {}


def _reason(exc: PyMongoError) -> str:
    """The useful part of a driver or server message, e.g. ``connection refused``."""
    if errmsg := _server_error(exc).get("errmsg"):
        return str(errmsg)[:_MAX_REASON]
    if isinstance(exc, OperationFailure):
        return (str(exc) or type(exc).__name__)[:_MAX_REASON]
    # "h:1: [Errno 111] Connection refused (configured timeouts: ...), Timeout: 5s, ..."
    text = str(exc).split(", Timeout: ", 1)[0]
    text = re.sub(r"\s*\(configured timeouts:[^)]*\)", "", text)
    text = re.sub(r"^\S+:\d+: ", "", text)
    text = re.sub(r"\[Errno -?\d+\]\s*", "", text).strip() or type(exc).__name__
    if text[:2].istitle():  # "Connection refused" -> "connection refused"
        text = text[0].lower() + text[1:]
    return text[:_MAX_REASON]


def _database_names(client: MongoClient, name: str | dict[str, str]) -> list[str]:
    """``listDatabases`` with a filter on the name: a value, or a query such as ``$regex``."""
    reply = client.admin.command("listDatabases", nameOnly=True, filter={"name": name})
    return [database["name"] for database in reply["databases"]]


@contextmanager
def _unless(code: int) -> Iterator[None]:
    """Ignore the server error ``code`` (e.g. 'already exists' on a retry), and only it."""
    try:
        yield
    except OperationFailure as exc:
        if exc.code != code:
            raise


class MongoDBAdapter(ProviderAdapter):
    key = "mongodb"
    label = "MongoDB"
    resource_type = "nosql"
    uri_scheme = "mongodb"
    default_port = 27017
    url_path_option = "auth_source"
    instance_options = {
        "auth_source": PropertySpec("Database the admin account is defined in (default "
                                    "'admin')"),
        "tls": PropertySpec("true: connect with TLS, verifying the server; tenants' URIs ask "
                            "for TLS too", kind="boolean"),
        "tls_ca_file": PropertySpec("CA certificate file to verify the server with (with "
                                    "tls)", max_length=4096),
        "replica_set": PropertySpec("Replica set name, for the admin's and tenants' "
                                    "connections"),
    }

    @property
    def tls(self) -> bool:
        return _flag(self.config.options.get("tls", False))

    @property
    def replica_set(self) -> str:
        return str(self.config.options.get("replica_set") or "")

    # -- operations ---------------------------------------------------------------------

    def ping(self) -> None:
        with self._admin("ping") as client:
            client.admin.command("ping")

    def create(self, backend_name: str, password: str, properties: dict[str, Any]) -> Credentials:
        name = require_backend_name(backend_name)
        with self._admin(f"creating {name}", password) as client:
            database = client[name]
            with _unless(NAMESPACE_EXISTS):
                database.command("create", MARKER_COLLECTION)
            checkpoint(CREATE_HALF_DONE)
            self._put_user(database, name, password, owner_roles(name))
        return self.credentials(name, password)

    login_access = frozenset(LEVEL_ROLES)

    def add_login(self, backend_name: str, login: Login) -> Credentials:
        """The user, defined in the resource's database (its ``authSource``, as for the
        owner), with exactly this password and its level's role. MongoDB cannot expire a
        user: the service's sweep revokes the login after ``login.valid_until``."""
        name = require_backend_name(backend_name)
        user = require_login_name(login.name, name)
        with self._admin(f"adding login {user} to {name}", login.password) as client:
            if name not in _database_names(client, name):
                raise ProviderError(f"database {name} does not exist")
            self._put_user(client[name], user, login.password, login_roles(name, login.access))
        return self.credentials(name, login.password, login=user)

    def remove_login(self, backend_name: str, login_name: str) -> None:
        name = require_backend_name(backend_name)
        user = require_login_name(login_name, name)
        with self._admin(f"removing login {user} of {name}") as client:
            self._drop_login(client, name, user)

    owner_rotates = True

    def close_owner_login(self, backend_name: str) -> None:
        """Users own nothing here: the owner's own user goes like any login."""
        name = require_backend_name(backend_name)
        with self._admin(f"closing the owner login {name}") as client:
            self._drop_login(client, name, name)

    def delete(self, backend_name: str) -> None:
        name = require_backend_name(backend_name)
        with self._admin(f"deleting {name}") as client:
            database = client[name]
            with _unless(USER_NOT_FOUND):
                database.command("dropUser", name)
            checkpoint(DELETE_HALF_DONE)
            for found in database.command("usersInfo", 1)["users"]:
                if is_login_of(found["user"], name):
                    self._drop_login(client, name, found["user"])
            client.drop_database(name)

    def check(
        self, credentials: Credentials, *, repair: bool, owner_login: str | None = None
    ) -> CheckResult:
        name = require_backend_name(credentials.database)
        user = require_owner_login(credentials.username, name, owner_login)
        password = credentials.password
        repaired: list[str] = []

        def failed(message: str) -> CheckResult:
            return CheckResult(False, message, tuple(repaired))

        with self._admin(f"checking {name}", password) as client:
            if name not in _database_names(client, name):
                return failed(f"database {name} no longer exists; its data is lost and "
                              "cannot be restored by a repair")
            database = client[name]
            found = database.command("usersInfo", {"user": user, "db": name})["users"]
            if not found:
                if not repair:
                    return failed(f"login {user} does not exist")
                self._put_user(database, user, password, owner_roles(name))
                repaired.append("login re-created")
            elif (roles := held_roles(found[0])) != {(OWNER_ROLE, name)}:
                if not repair:
                    held = ", ".join(sorted(f"{role}@{db}" for role, db in roles)) or "no role"
                    return failed(f"login {user} holds {held}, not exactly {OWNER_ROLE} on {name}")
                database.command("updateUser", user, roles=owner_roles(name))
                repaired.append("roles restored")
            refusal = self._tenant_refusal(user, password, name)
            if refusal is not None and refusal.code == AUTHENTICATION_FAILED:
                if not repair:
                    return failed(f"login {user} rejects its stored password")
                database.command("updateUser", user, pwd=password)
                repaired.append("password reset")
                refusal = self._tenant_refusal(user, password, name)
            if refusal is not None:
                return failed(scrub(f"login {user} cannot use database {name}: "
                                    f"({refusal.code}) {_reason(refusal)}", password))
        if repaired:
            return CheckResult(True, "repaired: " + ", ".join(repaired), tuple(repaired))
        return CheckResult(True, "database, login and roles are in order")

    def inventory(self, prefix: str) -> Inventory:
        ours = {"$regex": "^" + re.escape(prefix)}
        with self._admin("listing databases and users") as client:
            databases = _database_names(client, ours)
            users = client.admin.command("usersInfo", {"forAllDBs": True},
                                         filter={"user": ours})["users"]
        # Ours are defined in their same-named database; ``delete`` drops nothing else.
        own = [found for found in users if found["db"] == found["user"]]
        healthy = [found["user"] for found in own
                   if held_roles(found) == {(OWNER_ROLE, found["db"])}]
        logins = [found["user"] for found in own]
        return Inventory.matching(prefix, databases, logins, healthy)

    def credentials(self, name: str, password: str, login: str | None = None) -> Credentials:
        """The base URI plus what a MongoDB client needs: the user's ``authSource``, the
        resource's database (where its users live)."""
        credentials = super().credentials(name, password, login)
        query = {"authSource": name}
        if self.tls:
            query["tls"] = "true"
        if self.replica_set:
            query["replicaSet"] = self.replica_set
        return replace(credentials, uri=f"{credentials.uri}?{urlencode(query, quote_via=quote)}")

    # -- helpers --------------------------------------------------------------------------

    @staticmethod
    def _put_user(database: Database, user: str, password: str,
                  roles: list[dict[str, str]]) -> None:
        """Create the user, or give the existing one exactly this password and roles."""
        try:
            database.command("createUser", user, pwd=password, roles=roles)
        except OperationFailure as exc:
            if exc.code != USER_ALREADY_EXISTS:
                raise
            database.command("updateUser", user, pwd=password, roles=roles)

    @staticmethod
    def _drop_login(client: MongoClient, name: str, user: str) -> None:
        """Drop login ``user`` of database ``name`` (gone already: fine), then end its
        running operations and its sessions; without the roles for that, skip it."""
        with _unless(USER_NOT_FOUND):
            client[name].command("dropUser", user)
        running_as = {"$elemMatch": {"user": user, "db": name}}
        with _unless(UNAUTHORIZED):
            for operation in client.admin.command("currentOp",
                                                  effectiveUsers=running_as)["inprog"]:
                client.admin.command("killOp", op=operation["opid"])
        with _unless(UNAUTHORIZED):
            client.admin.command("killAllSessionsByPattern", [{"uid": session_owner(user, name)}])

    @contextmanager
    def _client(self, user: str, password: str, auth_source: str, action: str,
                *secrets: str) -> Iterator[MongoClient]:
        """A client (authenticating when ``user`` is set); driver errors become
        ProviderErrors without secrets."""
        timeout_ms = self.config.connect_timeout * 1000
        options: dict[str, Any] = {"connectTimeoutMS": timeout_ms, "appname": "resourcemanager",
                                   "serverSelectionTimeoutMS": timeout_ms,
                                   "socketTimeoutMS": self.config.read_timeout * 1000}
        if user:
            options |= {"username": user, "password": password, "authSource": auth_source}
        if self.tls:
            options["tls"] = True
            if ca_file := self.config.options.get("tls_ca_file"):
                options["tlsCAFile"] = ca_file
        if self.replica_set:
            options["replicaSet"] = self.replica_set
        host = self.config.host
        try:
            client = MongoClient(f"[{host}]" if ":" in host else host, self.config.port,
                                 **options)
        except PyMongoError as exc:
            raise self._error(exc, action, password, *secrets) from None
        try:
            yield client
        except PyMongoError as exc:
            raise self._error(exc, action, password, *secrets) from None
        finally:
            client.close()

    def _admin(self, action: str, *secrets: str) -> AbstractContextManager[MongoClient]:
        auth_source = str(self.config.options.get("auth_source") or "admin")
        return self._client(self.config.username, self.config.password, auth_source, action,
                            *secrets)

    def _tenant_refusal(self, user: str, password: str, name: str) -> OperationFailure | None:
        """None when the tenant logs in (authSource: its database) and lists its collections;
        else the server's refusal. An unreachable server raises a transient ProviderError."""
        with self._client(user, password, name, f"logging in as {user}") as client:
            try:
                client[name].command("listCollections", nameOnly=True)
            except OperationFailure as exc:
                return exc
        return None

    def _error(self, exc: PyMongoError, action: str, *secrets: str) -> ProviderError:
        where = f"{self.config.host}:{self.config.port}"
        hide = (self.config.password, *secrets)
        # The server answered: a refusal, or (a ConnectionFailure) e.g. "not primary".
        code = _server_error(exc).get("code")
        if isinstance(exc, ConnectionFailure) and code is None:
            return ProviderError(scrub(f"cannot reach MongoDB at {where}: {_reason(exc)}", *hide),
                                 transient=True)
        detail = f"({code}) {_reason(exc)}" if code is not None else _reason(exc)
        return ProviderError(scrub(f"MongoDB at {where}: {action} failed: {detail}", *hide),
                             transient=isinstance(exc, ConnectionFailure)
                             or code in TRANSIENT_CODES)
