"""Requests naming a scope, and what they must leave behind, for the scope isolation tests.

The roles, the two ways of naming a scope (path or X-Scope header) with the renderer
asked for, the admin browser of a user with roles, and the checks: a resource untouched
(row, database, login and data), a response revealing nothing of a tenant.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from resourcemanager.identity.roles import Role
from resourcemanager.resources.models import Resource
from tests.security.conftest import SHARED_TAG, Tenant, database_and_login_exist, read_private_row
from tests.security.isolation_checks import ACCEPT, payload_of, shown_by

ROLES = [Role.ADMIN, Role.RESOURCE_ADMIN, Role.CONSUMER_ADMIN, Role.USER]
MANAGERS = (Role.ADMIN, Role.RESOURCE_ADMIN)
NO_ROLE = "NO_ROLE"


@dataclass(frozen=True)
class Form:
    """How a request names its scope (``path`` or ``header``) and the renderer it asks for."""

    scope_in: str
    renderer: str = "json"

    def __str__(self) -> str:
        return f"{self.scope_in}-{self.renderer}"


#: Both ways of naming the scope; the browsable API (HTML) once, to keep the run time sane.
FORMS = [Form("path"), Form("header"), Form("path", "html")]


def call(client: APIClient, method: str, path: str, *, form: Form, scope: str, body=None):
    """``path`` (relative to the API root) in one of the two URL forms naming ``scope``."""
    accept = ACCEPT[form.renderer]
    if form.scope_in == "path":
        return getattr(client, method)(
            f"/api/c/{scope}/{path}", body, format="json", HTTP_ACCEPT=accept
        )
    return getattr(client, method)(
        f"/api/{path}", body, format="json", HTTP_X_SCOPE=scope, HTTP_ACCEPT=accept
    )


def assert_untouched(tenant: Tenant) -> None:
    """The resource is as it was created: row, database, login and data."""
    row = Resource.objects.get(pk=tenant.id)
    assert row.status == Resource.Status.READY
    assert row.tags == [SHARED_TAG]
    assert row.last_check_at is None
    assert database_and_login_exist(tenant) == (True, True)
    assert read_private_row(tenant) == tenant.data


def assert_reveals_nothing_of(response, tenant: Tenant) -> None:
    text = shown_by(response)
    assert tenant.name not in text
    assert tenant.id not in text
    assert tenant.backend_name not in text
    assert tenant.credentials["password"] not in text


def result_names(response) -> list[str]:
    assert response.status_code == 200, payload_of(response)
    return sorted(r["name"] for r in payload_of(response)["results"])


@pytest.fixture(name="world")
def alpha_and_bravo(alpha: Tenant, bravo: Tenant) -> tuple[Tenant, Tenant]:
    """team-a's and team-b's resources, as (alpha, bravo)."""
    return alpha, bravo


def client_with(make_client, role: str) -> APIClient:
    return make_client() if role == NO_ROLE else make_client(team_a=role)


def admin_client(make_client, **roles) -> Client:
    """A logged-in staff (not superuser) browser session with ``roles``."""
    user = make_client(**roles).user
    user.is_staff = True
    user.save()
    client = Client()
    client.force_login(user)
    return client


def admin_url(name: str, *args) -> str:
    return reverse(f"admin:resourcemanager_resource_{name}", args=args)
