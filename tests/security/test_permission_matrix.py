"""The permission matrix on every resource and provider route of the API, per role.

The README's Roles table: every role views and checks resources and views providers; only
ADMIN and RESOURCE_ADMIN create, update and delete; without a role in the scope a request
is refused (403) with no hint whether objects exist; without credentials, or with an
invalid token, it is a JSON 401; a browser session needs the CSRF token to change
anything. Refused mutations are verified on the server, not only by their status code.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from rest_framework.test import APIClient

from resourcemanager.identity.roles import Role
from resourcemanager.resources.models import Resource
from tests.security.conftest import MEMORY_KEY, SHARED_TAG, Tenant, database_and_login_exist
from tests.security.isolation_checks import ACCEPT, payload_of
from tests.security.scope_requests import (
    FORMS,
    MANAGERS,
    NO_ROLE,
    ROLES,
    alpha_and_bravo,  # noqa: F401 (fixture world)
    assert_reveals_nothing_of,
    assert_untouched,
    call,
    client_with,
    result_names,
)
from tests.support.memory_provider import tenant_session


def lists_only_alpha(response, alpha: Tenant) -> None:
    assert result_names(response) == ["alpha"]


def shows_alpha_with_its_connection(response, alpha: Tenant) -> None:
    assert payload_of(response)["id"] == alpha.id
    assert payload_of(response)["connection"]["username"] == alpha.credentials["username"]
    assert alpha.credentials["password"] not in str(payload_of(response))


def shows_alpha_with_its_credential(response, alpha: Tenant) -> None:
    assert payload_of(response)["id"] == alpha.id
    assert payload_of(response)["credentials"]["password"] == alpha.credentials["password"]


def lists_the_provider(response, alpha: Tenant) -> None:
    assert [p["key"] for p in payload_of(response)] == [MEMORY_KEY]


def shows_the_provider(response, alpha: Tenant) -> None:
    assert payload_of(response)["key"] == MEMORY_KEY


def created_a_usable_resource(response, alpha: Tenant) -> None:
    body = payload_of(response)
    assert (body["scope"], body["name"], body["status"]) == ("team-a", "fresh", "ready")
    fresh = Tenant("team-a", body["id"], "fresh", body["credentials"])
    assert database_and_login_exist(fresh) == (True, True)
    assert tenant_session(fresh.credentials).rows == []  # the credential opens it


def changed_the_tags(response, alpha: Tenant) -> None:
    assert Resource.objects.get(pk=alpha.id).tags == ["changed"]


def checked_the_resource(response, alpha: Tenant) -> None:
    assert Resource.objects.get(pk=alpha.id).last_check_ok is True


def deleted_the_database(response, alpha: Tenant) -> None:
    assert Resource.objects.get(pk=alpha.id).status == Resource.Status.DELETED
    assert database_and_login_exist(alpha) == (False, False)


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str  # relative to the API root; {id} is team-a's resource
    ok: int
    effect: Callable
    body: dict | None = None
    roles: tuple = field(default=tuple(ROLES))

    def __str__(self) -> str:
        return self.name

    def url(self, resource_id: str) -> str:
        return self.path.format(id=resource_id)


ROUTES = [
    Route("list", "get", "resources", 200, lists_only_alpha),
    Route("filter-tag", "get", f"resources?tag={SHARED_TAG}", 200, lists_only_alpha),
    Route("filter-provider", "get", f"resources?provider={MEMORY_KEY}", 200, lists_only_alpha),
    Route("filter-status", "get", "resources?status=ready", 200, lists_only_alpha),
    Route("retrieve", "get", "resources/{id}", 200, shows_alpha_with_its_connection),
    Route("reveal", "post", "resources/{id}/reveal", 200, shows_alpha_with_its_credential,
          None, MANAGERS),
    Route("check", "post", "resources/{id}/check", 202, checked_the_resource, {"repair": True}),
    Route("providers-list", "get", "providers", 200, lists_the_provider),
    Route("providers-retrieve", "get", f"providers/{MEMORY_KEY}", 200, shows_the_provider),
    # Operators only: no scope role lets a tenant make the platform log in to the server.
    Route("providers-test", "post", f"providers/{MEMORY_KEY}/test", 200, shows_the_provider,
          None, ()),
    Route("create", "post", "resources", 201, created_a_usable_resource,
          {"provider": MEMORY_KEY, "name": "fresh"}, MANAGERS),
    Route("partial_update", "patch", "resources/{id}", 200, changed_the_tags,
          {"tags": ["changed"]}, MANAGERS),
    Route("destroy", "delete", "resources/{id}", 202, deleted_the_database, None, MANAGERS),
]

ALLOWED = [(route, role) for route in ROUTES for role in ROLES if role in route.roles]
REFUSED = [
    (route, role) for route in ROUTES for role in [*ROLES, NO_ROLE] if role not in route.roles
]



@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(("route", "role"), ALLOWED, ids=[f"{r}-{role}" for r, role in ALLOWED])
def test_roles_allowed_by_the_matrix_succeed_within_their_scope(
    make_client, world, route, role, form
):
    alpha, bravo = world
    client = client_with(make_client, role)

    response = call(client, route.method, route.url(alpha.id), form=form, scope="team-a",
                    body=route.body)

    assert response.status_code == route.ok, payload_of(response)
    route.effect(response, alpha)
    assert_reveals_nothing_of(response, bravo)
    assert_untouched(bravo)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(("route", "role"), REFUSED, ids=[f"{r}-{role}" for r, role in REFUSED])
def test_roles_refused_by_the_matrix_get_a_403_and_change_nothing(
    make_client, world, route, role, form
):
    alpha, bravo = world
    client = client_with(make_client, role)

    response = call(client, route.method, route.url(alpha.id), form=form, scope="team-a",
                    body=route.body)

    assert response.status_code == 403, payload_of(response)
    assert payload_of(response)["code"] == "forbidden"
    assert_reveals_nothing_of(response, alpha)
    assert_reveals_nothing_of(response, bravo)
    assert_untouched(alpha)
    assert_untouched(bravo)
    assert not Resource.objects.filter(name="fresh").exists()


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_without_a_role_the_answer_does_not_hint_whether_objects_exist(
    make_client, world, route, form
):
    alpha, _ = world
    client = client_with(make_client, NO_ROLE)

    populated = call(client, route.method, route.url(alpha.id), form=form, scope="team-a",
                     body=route.body)
    empty = call(client, route.method, route.url(uuid.uuid4()), form=form, scope="team-z",
                 body=route.body)

    assert populated.status_code == empty.status_code == 403
    assert payload_of(populated) == payload_of(empty)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_unauthenticated_requests_get_a_json_401_and_change_nothing(world, route, form):
    alpha, bravo = world

    response = call(APIClient(), route.method, route.url(alpha.id), form=form, scope="team-a",
                    body=route.body)

    assert response.status_code == 401
    assert response["Content-Type"].startswith(ACCEPT[form.renderer])
    assert payload_of(response)["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Bearer"
    assert_reveals_nothing_of(response, alpha)
    assert_untouched(alpha)
    assert_untouched(bravo)


@pytest.mark.parametrize("form", FORMS)
def test_an_invalid_token_is_a_401_even_where_a_role_would_allow(world, form):
    alpha, _ = world
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer rmt_not-a-real-token")

    response = call(client, "get", f"resources/{alpha.id}", form=form, scope="team-a")

    assert response.status_code == 401
    assert payload_of(response)["code"] == "authentication_failed"
    assert_reveals_nothing_of(response, alpha)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "resources", {"provider": MEMORY_KEY, "name": "fresh"}),
        ("patch", "resources/{id}", {"tags": ["changed"]}),
        ("delete", "resources/{id}", None),
    ],
)
def test_session_authenticated_mutations_need_the_csrf_token(make_client, world, method, path,
                                                              body):
    alpha, _ = world
    user = make_client(team_a=Role.RESOURCE_ADMIN).user
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(user)  # a session cookie, as after logging in to the admin

    response = getattr(browser, method)(f"/api/c/team-a/{path.format(id=alpha.id)}", body,
                                        format="json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["message"]
    assert browser.get(f"/api/c/team-a/resources/{alpha.id}").status_code == 200
    assert_untouched(alpha)
    assert not Resource.objects.filter(name="fresh").exists()
