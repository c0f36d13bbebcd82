"""A provider class whose servers live in this process: databases, logins and rows in dicts.

For the tests that probe every route, role and scope: what they look at is who may ask
the API for what, so they need a provider that behaves like one (creates, checks and
repairs, deletes, lists, refuses a wrong password or a foreign database) without a round
trip to a server per probe. Each real provider class keeps its own tests on its real
server (tests/providers; tests/security/test_credential_isolation.py for the credentials).

A server is started by ``MemoryServers.start`` and found by (host, port), as a real one
would be by its address; an address where none was started refuses connections.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from providers.adapters import registry
from providers.adapters.base import (
    CheckResult,
    Credentials,
    Inventory,
    ProviderAdapter,
    ProviderError,
    require_backend_name,
)
from providers.adapters.properties import PropertySpec

MEMORY_CLASS = "memory"
MEMORY_HOST = "memory.invalid"


class AccessDenied(Exception):
    """A tenant connection refused: wrong password, disabled login or a foreign database."""


@dataclass
class Login:
    password: str
    can_login: bool = True
    connection_limit: int | None = None


@dataclass
class Database:
    owner: str
    rows: list[str] = field(default_factory=list)


@dataclass
class MemoryServer:
    """One server: its databases and logins by name, and the rows tenants wrote."""

    host: str
    port: int
    admin_user: str
    admin_password: str
    databases: dict[str, Database] = field(default_factory=dict)
    logins: dict[str, Login] = field(default_factory=dict)

    def connect(self, user: str, password: str, database: str) -> Database:
        """A tenant's session: its database, if the login and password let it in there."""
        login = self.logins.get(user)
        if login is None or not login.can_login or login.password != password:
            raise AccessDenied(f"password authentication failed for user {user}")
        found = self.databases.get(database)
        if found is None or found.owner != user:
            raise AccessDenied(f"permission denied for database {database}")
        return found

    def holds(self) -> set[str]:
        return {*self.databases, *self.logins}


class MemoryServers:
    """The servers started in this process, by address."""

    def __init__(self) -> None:
        self._by_address: dict[tuple[str, int], MemoryServer] = {}
        self._ports = itertools.count(1)

    def start(self) -> MemoryServer:
        port = next(self._ports)
        server = MemoryServer(MEMORY_HOST, port, "admin", f"admin-password-{port}")
        self._by_address[(server.host, port)] = server
        return server

    def stop(self, server: MemoryServer) -> None:
        del self._by_address[(server.host, server.port)]

    def at(self, host: str, port: int) -> MemoryServer | None:
        return self._by_address.get((host, port))


SERVERS = MemoryServers()


def tenant_session(credentials: dict[str, Any]) -> Database:
    """Connect as a tenant with its credential (as returned by the API)."""
    server = SERVERS.at(credentials["host"], credentials["port"])
    if server is None:
        raise AccessDenied("connection refused")
    return server.connect(credentials["username"], credentials["password"],
                          credentials["database"])


class MemoryAdapter(ProviderAdapter):
    key = MEMORY_CLASS
    label = "In-memory SQL"
    resource_type = "sql"
    uri_scheme = "memory"
    default_port = 1
    properties = {
        "connection_limit": PropertySpec(
            "Most concurrent sessions the resource's login may hold (empty: unlimited)",
            kind="integer", minimum=1, maximum=10_000),
    }

    @property
    def server(self) -> MemoryServer:
        """The server at the instance's address, when the admin's password opens it."""
        server = SERVERS.at(self.config.host, self.config.port)
        if server is None:
            raise ProviderError(f"cannot reach {self.config.host}:{self.config.port}: "
                                "connection refused", transient=True)
        if (self.config.username, self.config.password) != (server.admin_user,
                                                            server.admin_password):
            raise ProviderError(f"password authentication failed for user "
                                f"{self.config.username}")
        return server

    def ping(self) -> None:
        self.server  # noqa: B018 (reaching it is the ping)

    def create(self, backend_name: str, password: str, properties: dict[str, Any]) -> Credentials:
        name = require_backend_name(backend_name)
        server = self.server
        server.logins[name] = Login(password, connection_limit=properties.get("connection_limit"))
        server.databases.setdefault(name, Database(owner=name)).owner = name
        return self.credentials(name, password)

    def update(
        self, backend_name: str, properties: dict[str, Any], *, owner_login: str | None = None
    ) -> None:
        login = self.server.logins.get(owner_login or require_backend_name(backend_name))
        if login is None:
            raise ProviderError(f"login {backend_name} does not exist")
        login.connection_limit = properties.get("connection_limit")

    def delete(self, backend_name: str) -> None:
        name = require_backend_name(backend_name)
        server = self.server
        server.databases.pop(name, None)
        server.logins.pop(name, None)

    def check(
        self, credentials: Credentials, *, repair: bool, owner_login: str | None = None
    ) -> CheckResult:
        server = self.server
        name = require_backend_name(credentials.database)
        user = require_backend_name(credentials.username)
        database = server.databases.get(name)
        if database is None:
            return CheckResult(False, f"database {name} no longer exists; its data is lost "
                                      "and cannot be restored by a repair")
        problems = self._problems(server, database, user, credentials.password)
        if problems and not repair:
            return CheckResult(False, problems[0])
        if problems:
            server.logins[user] = Login(credentials.password)
            database.owner = user
            repaired = ("login, owner and password restored",)
            return CheckResult(True, "repaired: " + repaired[0], repaired)
        return CheckResult(True, "database, login and privileges are in order")

    @staticmethod
    def _problems(server: MemoryServer, database: Database, user: str, password: str
                  ) -> list[str]:
        login = server.logins.get(user)
        if login is None or not login.can_login:
            return [f"login {user} does not exist or may not log in"]
        problems = []
        if database.owner != user:
            problems.append(f"database is owned by {database.owner}, not by {user}")
        if login.password != password:
            problems.append(f"login {user} rejects its stored password")
        return problems

    def inventory(self, prefix: str) -> Inventory:
        server = self.server
        healthy = [name for name, database in server.databases.items()
                   if database.owner == name and name in server.logins
                   and server.logins[name].can_login]
        return Inventory.matching(prefix, databases=server.databases, logins=server.logins,
                                  healthy=healthy)


@contextmanager
def memory_provider_class() -> Iterator[MemoryServer]:
    """Within: ``memory`` is a provider class, and one server of it is running; it must
    hold nothing at the end (the resources made on it were deleted)."""
    if MEMORY_CLASS in registry.ADAPTERS:
        raise RuntimeError("the memory provider class is registered already")
    registry.ADAPTERS[MEMORY_CLASS] = MemoryAdapter
    server = SERVERS.start()
    try:
        yield server
    finally:
        SERVERS.stop(server)
        del registry.ADAPTERS[MEMORY_CLASS]
    if leftovers := server.holds():
        raise AssertionError(f"the memory server was left holding {sorted(leftovers)}")
