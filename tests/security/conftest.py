"""Fixtures shared by the security tests: tenants with resources in two scopes.

The tenants of the permission matrix and the isolation tests live on the in-memory
provider (tests/support/memory_provider.py): those tests send thousands of requests, and
what they look at is the API's answer and whether the backend objects stayed as they
were. Credentials against the real servers are tested in test_credential_isolation.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg
import pymysql
import pytest
from rest_framework.test import APIClient

from resourcemanager.identity.models import ScopeRole
from resourcemanager.identity.roles import Role
from tests.conftest import pg_admin_connect
from tests.support.fast_commits import rolled_back_api_db  # noqa: F401 (fixture api_db)
from tests.support.memory_provider import SERVERS, tenant_session

SHARED_TAG = "shared"


@dataclass(frozen=True)
class Tenant:
    """A resource created through the API, with what its owner was given."""

    scope: str
    id: str
    name: str
    credentials: dict

    @property
    def backend_name(self) -> str:
        return self.credentials["database"]

    @property
    def server_class(self) -> str:
        """What the resource lives on, from its URI: postgresql, mysql or memory."""
        return self.credentials["uri"].partition(":")[0]

    @property
    def data(self) -> str:
        """The row written into the resource's database when it was created."""
        return f"{self.scope} private data"


#: The key of the in-memory instance (the ``memory_provider`` fixture).
MEMORY_KEY = "mem"


def create_tenant(client: APIClient, scope: str, name: str, provider: str = MEMORY_KEY
                  ) -> Tenant:
    """Create a resource in ``scope`` and put one private row into its database."""
    response = client.post(
        f"/api/c/{scope}/resources",
        {"provider": provider, "name": name, "tags": [SHARED_TAG]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "ready", body
    tenant = Tenant(scope=scope, id=body["id"], name=name, credentials=body["credentials"])
    if tenant.server_class == "memory":
        tenant_session(tenant.credentials).rows.append(tenant.data)
    elif tenant.server_class == "mysql":
        with mysql_connect(tenant.credentials) as conn, conn.cursor() as cursor:
            cursor.execute("CREATE TABLE private (v text)")
            cursor.execute("INSERT INTO private VALUES (%s)", (tenant.data,))
    else:
        with psycopg.connect(tenant.credentials["uri"], autocommit=True) as conn:
            conn.execute("CREATE TABLE private (v text)")
            conn.execute("INSERT INTO private VALUES (%s)", (tenant.data,))
    return tenant


def pg_connect(credentials: dict, **override) -> psycopg.Connection:
    """Connect with a tenant's credential; ``override`` changes e.g. ``dbname``."""
    params = {
        "host": credentials["host"],
        "port": credentials["port"],
        "user": credentials["username"],
        "password": credentials["password"],
        "dbname": credentials["database"],
        "connect_timeout": 5,
        "autocommit": True,
        **override,
    }
    return psycopg.connect(**params)


def mysql_connect(credentials: dict, **override) -> pymysql.Connection:
    """Connect with a tenant's credential; ``override`` changes e.g. ``database``."""
    params = {
        "host": credentials["host"],
        "port": credentials["port"],
        "user": credentials["username"],
        "password": credentials["password"],
        "database": credentials["database"],
        "connect_timeout": 5,
        "autocommit": True,
        **override,
    }
    return pymysql.connect(**params)


def pg_read_private_row(tenant: Tenant) -> str:
    """Read the private row back with the tenant's own credential (fails if it was harmed)."""
    with pg_connect(tenant.credentials) as conn:
        return conn.execute("SELECT v FROM private").fetchone()[0]


def mysql_read_private_row(tenant: Tenant) -> str:
    with mysql_connect(tenant.credentials) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT v FROM private")
        return cursor.fetchone()[0]


def read_private_row(tenant: Tenant) -> str:
    """The private row, read with the tenant's own credential wherever it lives."""
    if tenant.server_class == "memory":
        return tenant_session(tenant.credentials).rows[0]
    if tenant.server_class == "mysql":
        return mysql_read_private_row(tenant)
    return pg_read_private_row(tenant)


def database_and_login_exist(tenant: Tenant) -> tuple[bool, bool]:
    """Whether the tenant's database and its login exist, as the server's admin sees it."""
    name = tenant.backend_name
    if tenant.server_class == "memory":
        server = SERVERS.at(tenant.credentials["host"], tenant.credentials["port"])
        return (server is not None and name in server.databases,
                server is not None and name in server.logins)
    assert tenant.server_class == "postgresql", tenant.server_class
    with pg_admin_connect() as conn:
        database = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        has_database = database.fetchone() is not None
        login = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
        return has_database, login.fetchone() is not None


@pytest.fixture
def every_role_client(make_client) -> Callable[[str], APIClient]:
    """``every_role_client("team-a")``: a client holding all four roles in that scope."""

    def make(scope: str) -> APIClient:
        client = make_client(**{scope.replace("-", "_"): Role.ADMIN})
        for role in (Role.RESOURCE_ADMIN, Role.CONSUMER_ADMIN, Role.USER):
            ScopeRole.objects.create(user=client.user, scope=scope, role=role)
        return client

    return make


@pytest.fixture
def owners(make_client) -> APIClient:
    """The RESOURCE_ADMIN of team-a and team-b who set the scene."""
    return make_client(team_a=Role.RESOURCE_ADMIN, team_b=Role.RESOURCE_ADMIN)


@pytest.fixture
def alpha(memory_provider, owners) -> Tenant:
    """team-a's PostgreSQL resource."""
    return create_tenant(owners, "team-a", "alpha")


@pytest.fixture
def bravo(memory_provider, owners) -> Tenant:
    """team-b's PostgreSQL resource; its name and id must never reach team-a."""
    return create_tenant(owners, "team-b", "bravo-private")


@pytest.fixture
def team_a_user(every_role_client) -> APIClient:
    """A user holding every role in team-a, none elsewhere, not staff, not operator."""
    client = every_role_client("team-a")
    client.raise_request_exception = False  # a server error is an answer like any other
    assert not client.user.is_staff
    assert not client.user.is_superuser
    return client
