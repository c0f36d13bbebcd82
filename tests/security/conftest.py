"""Fixtures shared by the security tests: tenants with real resources in two scopes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg
import pymysql
import pytest
from rest_framework.test import APIClient

from resourcemanager.identity.models import ScopeRole
from resourcemanager.identity.roles import Role

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
    def data(self) -> str:
        """The row written into the resource's database when it was created."""
        return f"{self.scope} private data"


def create_tenant(client: APIClient, scope: str, name: str, provider: str = "pg") -> Tenant:
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
    if provider == "mysql":
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
def alpha(owners, pg_provider) -> Tenant:
    """team-a's PostgreSQL resource."""
    return create_tenant(owners, "team-a", "alpha")


@pytest.fixture
def bravo(owners, pg_provider) -> Tenant:
    """team-b's PostgreSQL resource; its name and id must never reach team-a."""
    return create_tenant(owners, "team-b", "bravo-private")
