"""Scope isolation: the permission matrix on every API route, foreign scopes, the admin.

The README's Roles table: every role views and checks resources and views providers; only
ADMIN and RESOURCE_ADMIN create, update and delete; without a role in the scope a request is refused
(403) with no hint whether objects exist; without credentials it is a JSON 401. Refused
mutations are verified on the server, not only by their status code.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from providers.models import Provider
from resourcemanager.identity.roles import Role
from resourcemanager.resources.models import Resource
from tests.security.conftest import (
    MEMORY_KEY,
    SHARED_TAG,
    Tenant,
    database_and_login_exist,
    read_private_row,
)
from tests.security.isolation_checks import ACCEPT, payload_of, shown_by
from tests.support.memory_provider import tenant_session

ROLES = [Role.ADMIN, Role.RESOURCE_ADMIN, Role.CONSUMER_ADMIN, Role.USER]
MANAGERS = (Role.ADMIN, Role.RESOURCE_ADMIN)
NO_ROLE = "NO_ROLE"
RENDERERS = ["json", "html"]


@dataclass(frozen=True)
class Form:
    """How a request names its scope (``path`` or ``header``) and the renderer it asks for."""

    scope_in: str
    renderer: str = "json"

    def __str__(self) -> str:
        return f"{self.scope_in}-{self.renderer}"


#: Both ways of naming the scope; the browsable API (HTML) once, to keep the run time sane.
FORMS = [Form("path"), Form("header"), Form("path", "html")]


# --- helpers ---------------------------------------------------------------------------


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


# --- what each allowed request must have done ------------------------------------------


def lists_only_alpha(response, alpha: Tenant) -> None:
    assert result_names(response) == ["alpha"]


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
    Route("retrieve", "get", "resources/{id}", 200, shows_alpha_with_its_credential),
    Route("check", "post", "resources/{id}/check", 202, checked_the_resource, {"repair": True}),
    Route("providers-list", "get", "providers", 200, lists_the_provider),
    Route("providers-retrieve", "get", f"providers/{MEMORY_KEY}", 200, shows_the_provider),
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


@pytest.fixture
def world(alpha: Tenant, bravo: Tenant) -> tuple[Tenant, Tenant]:
    return alpha, bravo


def client_with(make_client, role: str) -> APIClient:
    return make_client() if role == NO_ROLE else make_client(team_a=role)


# --- the matrix ------------------------------------------------------------------------


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


# --- foreign scopes --------------------------------------------------------------------

#: (how team-a's user names team-b's resource, URL, X-Scope header, status, code)
FOREIGN_ATTEMPTS = [
    ("own-path", "/api/c/team-a/resources/{id}", None, 404, "not_found"),
    ("own-header", "/api/resources/{id}", "team-a", 404, "not_found"),
    ("default-scope", "/api/resources/{id}", None, 403, "forbidden"),
    ("team-b-header", "/api/resources/{id}", "team-b", 403, "forbidden"),
    ("team-b-path", "/api/c/team-b/resources/{id}", None, 403, "forbidden"),
    ("own-path-team-b-header", "/api/c/team-a/resources/{id}", "team-b", 400, "scope_mismatch"),
    ("team-b-path-own-header", "/api/c/team-b/resources/{id}", "team-a", 400, "scope_mismatch"),
]
OPERATIONS = [
    ("retrieve", "get", "", None),
    ("partial_update", "patch", "", {"tags": ["pwned"]}),
    ("destroy", "delete", "", None),
    ("check", "post", "/check", {"repair": True}),
]


def foreign_call(client, attempt, operation, resource_id, renderer: str):
    _, url, header, _, _ = attempt
    _, method, suffix, body = operation
    headers = {"HTTP_X_SCOPE": header} if header else {}
    return getattr(client, method)(
        url.format(id=resource_id) + suffix, body, format="json",
        HTTP_ACCEPT=ACCEPT[renderer], **headers,
    )


@pytest.mark.parametrize("renderer", RENDERERS)
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op[0])
@pytest.mark.parametrize("attempt", FOREIGN_ATTEMPTS, ids=lambda at: at[0])
def test_every_role_in_team_a_cannot_reach_a_team_b_resource(
    every_role_client, world, attempt, operation, renderer
):
    _, bravo = world
    client = every_role_client("team-a")
    *_, status, code = attempt

    response = foreign_call(client, attempt, operation, bravo.id, renderer)
    unknown = foreign_call(client, attempt, operation, str(uuid.uuid4()), renderer)

    assert response.status_code == status, payload_of(response)
    assert payload_of(response)["code"] == code
    # The same answer as for an id that never was.
    assert payload_of(response) == payload_of(unknown)
    assert_reveals_nothing_of(response, bravo)
    assert_untouched(bravo)


@pytest.mark.parametrize("renderer", RENDERERS)
@pytest.mark.parametrize(
    ("url", "header", "status"),
    [
        ("/api/c/team-b/resources", None, 403),
        ("/api/resources", "team-b", 403),
        ("/api/resources", None, 403),
        ("/api/c/team-a/resources", "team-b", 400),
        ("/api/c/team-b/resources", "team-a", 400),
    ],
)
def test_every_role_in_team_a_cannot_create_in_team_b(
    every_role_client, world, url, header, status, renderer
):
    _, bravo = world
    client = every_role_client("team-a")
    headers = {"HTTP_X_SCOPE": header} if header else {}

    response = client.post(url, {"provider": MEMORY_KEY, "name": "intruder"}, format="json",
                           HTTP_ACCEPT=ACCEPT[renderer], **headers)

    assert response.status_code == status, payload_of(response)
    assert not Resource.objects.filter(name="intruder").exists()
    assert_untouched(bravo)


LIST_QUERIES = [
    {},
    {"tag": SHARED_TAG},
    {"provider": MEMORY_KEY},
    {"status": "ready"},
    {"type": "sql"},
    {"managed": "true"},
    {"scope": "team-b"},
    {"page_size": 500},
]


@pytest.mark.parametrize("query", LIST_QUERIES, ids=lambda q: "&".join(q) or "none")
@pytest.mark.parametrize("form", FORMS)
def test_lists_and_filters_under_team_a_never_include_team_b(
    every_role_client, world, form, query
):
    _, bravo = world
    client = every_role_client("team-a")
    path = "resources"
    if query:
        path += "?" + "&".join(f"{key}={value}" for key, value in query.items())

    response = call(client, "get", path, form=form, scope="team-a")

    assert result_names(response) == ["alpha"]
    assert_reveals_nothing_of(response, bravo)


@pytest.mark.parametrize("form", FORMS)
def test_deleted_resources_of_team_b_stay_out_of_team_a_lists(
    every_role_client, owners, world, form
):
    _, bravo = world
    assert owners.delete(f"/api/c/team-b/resources/{bravo.id}").status_code == 202
    client = every_role_client("team-a")

    response = call(client, "get", "resources?status=deleted", form=form, scope="team-a")

    assert result_names(response) == []
    assert_reveals_nothing_of(response, bravo)


@pytest.mark.parametrize("route", ["resources", "providers", f"providers/{MEMORY_KEY}"])
@pytest.mark.parametrize("form", FORMS)
def test_every_role_in_team_a_cannot_list_in_team_b(every_role_client, world, form, route):
    _, bravo = world
    client = every_role_client("team-a")

    response = call(client, "get", route, form=form, scope="team-b")

    assert response.status_code == 403
    assert payload_of(response)["code"] == "forbidden"
    assert_reveals_nothing_of(response, bravo)


@pytest.mark.parametrize("form", FORMS)
def test_a_provider_reserved_for_team_b_does_not_exist_for_team_a(
    every_role_client, memory_provider, form
):
    memory_provider.allowed_scopes = ["team-b"]
    memory_provider.save()
    client = every_role_client("team-a")

    listed = call(client, "get", "providers", form=form, scope="team-a")
    retrieved = call(client, "get", f"providers/{MEMORY_KEY}", form=form, scope="team-a")
    unknown = call(client, "get", "providers/never-was", form=form, scope="team-a")

    assert payload_of(listed) == []
    assert retrieved.status_code == 404
    assert payload_of(retrieved) == payload_of(unknown)


# --- the admin -------------------------------------------------------------------------


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


def test_admin_changelist_shows_only_the_own_scope(make_client, world):
    alpha, bravo = world
    client = admin_client(make_client, team_a=Role.USER)

    page = client.get(admin_url("changelist"))

    assert page.status_code == 200
    assert alpha.name in page.content.decode()
    assert_reveals_nothing_of(page, bravo)
    assert "team-b" not in page.content.decode()  # not even in the scope filter


@pytest.mark.parametrize(
    "query", [{"q": "bravo"}, {"scope": "team-b"}, {"scope__exact": "team-b"}], ids=str
)
def test_admin_search_and_filters_do_not_reach_team_b(make_client, world, query):
    _, bravo = world
    client = admin_client(make_client, team_a=Role.USER)

    page = client.get(admin_url("changelist"), query, follow=True)

    assert_reveals_nothing_of(page, bravo)


@pytest.mark.parametrize("view", ["change", "history", "delete"])
def test_admin_pages_of_a_team_b_resource_are_not_shown(make_client, world, view):
    _, bravo = world
    client = admin_client(make_client, team_a=Role.USER)

    response = client.get(admin_url(view, bravo.id))
    unknown = client.get(admin_url(view, uuid.uuid4()))

    assert response.status_code in (302, 403, 404)
    assert response.status_code == unknown.status_code  # as if it did not exist
    followed = client.get(admin_url(view, bravo.id), follow=True)
    assert bravo.name not in followed.content.decode()
    assert bravo.backend_name not in followed.content.decode()
    assert_untouched(bravo)


def test_a_user_forging_an_admin_delete_of_its_own_scope_is_refused(make_client, world):
    alpha, _ = world
    client = admin_client(make_client, team_a=Role.USER)

    response = client.post(admin_url("delete", alpha.id), {"post": "yes"})

    assert response.status_code == 403
    assert_untouched(alpha)


def test_a_user_forging_an_admin_change_of_its_own_scope_is_refused(make_client, world):
    alpha, _ = world
    client = admin_client(make_client, team_a=Role.USER)

    response = client.post(admin_url("change", alpha.id), {"tags": '["pwned"]',
                                                           "properties": "{}"})

    assert response.status_code == 403
    assert_untouched(alpha)


@pytest.mark.parametrize("action", ["delete_selected", "check_selected"])
def test_admin_bulk_actions_of_team_a_cannot_select_a_team_b_resource(
    make_client, world, action
):
    _, bravo = world
    client = admin_client(make_client, team_a=Role.RESOURCE_ADMIN)

    client.post(
        admin_url("changelist"),
        {"action": action, "_selected_action": [bravo.id], "post": "yes"},
    )

    assert_untouched(bravo)


def test_a_resource_admin_deletes_through_the_admin_and_the_database_is_gone(
    make_client, world
):
    alpha, bravo = world
    client = admin_client(make_client, team_a=Role.RESOURCE_ADMIN)
    assert database_and_login_exist(alpha) == (True, True)

    response = client.post(admin_url("delete", alpha.id), {"post": "yes"})

    assert response.status_code == 302
    assert Resource.objects.get(pk=alpha.id).status == Resource.Status.DELETED
    assert database_and_login_exist(alpha) == (False, False)
    assert_untouched(bravo)


def test_a_role_in_another_scope_grants_nothing_in_the_admin(make_client, world):
    alpha, _ = world
    client = admin_client(make_client, team_b=Role.RESOURCE_ADMIN)

    response = client.post(admin_url("delete", alpha.id), {"post": "yes"})

    assert response.status_code in (302, 404)
    assert_untouched(alpha)


def test_admin_add_form_cannot_create_in_another_scope(make_client, world, memory_provider):
    client = admin_client(make_client, team_a=Role.RESOURCE_ADMIN)

    response = client.post(admin_url("add"), {"scope": "team-b", "provider": memory_provider.pk,
                                              "name": "intruder", "tags_text": ""})

    assert response.status_code == 200  # the form again, with the error
    # Only the scopes where the user may create are offered, and only those are taken.
    assert "team-b is not one of the available choices" in response.content.decode()
    assert not Resource.objects.filter(name="intruder").exists()


@pytest.mark.parametrize("page", ["add", "changelist"])
def test_admin_does_not_offer_providers_reserved_for_other_scopes(
    make_client, world, memory_provider, page
):
    Provider.objects.create(key="team-b-only-instance", provider_class="postgresql",
                            host="10.9.9.9", port=5432, username="x", password="x",
                            allowed_scopes=["team-b"])
    client = admin_client(make_client, team_a=Role.RESOURCE_ADMIN)

    response = client.get(admin_url(page))

    assert response.status_code == 200
    assert f">{MEMORY_KEY}<" in response.content.decode()  # the instance team-a may use is offered
    assert "team-b-only-instance" not in response.content.decode()


def test_admin_audit_trail_of_team_a_holds_nothing_of_team_b(make_client, world):
    alpha, bravo = world
    client = admin_client(make_client, team_a=Role.ADMIN)

    page = client.get(reverse("admin:audit_auditentry_changelist"), {"all": ""})
    searched = client.get(reverse("admin:audit_auditentry_changelist"), {"q": bravo.id})

    assert page.status_code == 200
    assert alpha.name in page.content.decode()
    assert_reveals_nothing_of(page, bravo)
    assert "team-b" not in page.content.decode()
    assert "0 results" in searched.content.decode()
    assert bravo.name not in searched.content.decode()


def test_admin_audit_trail_shows_roles_below_admin_only_their_own_actions(make_client, world):
    alpha, bravo = world
    client = admin_client(make_client, team_a=Role.RESOURCE_ADMIN)

    page = client.get(reverse("admin:audit_auditentry_changelist"), {"all": ""})

    assert page.status_code == 200
    assert "0 audit entries" in page.content.decode()  # the owner's actions are not theirs
    assert alpha.name not in page.content.decode()
    assert_reveals_nothing_of(page, bravo)


def test_admin_platform_configuration_is_read_only_to_scope_admins(make_client, world):
    client = admin_client(make_client, team_a=Role.ADMIN)
    instance = Provider.objects.get(key=MEMORY_KEY)

    listed = client.get(reverse("admin:providers_provider_changelist"))
    changed = client.post(reverse("admin:providers_provider_change", args=[instance.pk]),
                          {"key": MEMORY_KEY, "host": "10.6.6.6", "port": "1"})

    assert listed.status_code == 200
    assert f">{MEMORY_KEY}<" in listed.content.decode()
    assert client.get(reverse("admin:providers_provider_add")).status_code == 403
    assert changed.status_code == 403
    assert Provider.objects.get(pk=instance.pk).port == instance.port


def test_a_scope_admin_sees_only_its_scopes_memberships(make_client, world):
    client = admin_client(make_client, team_a=Role.ADMIN)

    page = client.get(reverse("admin:resourcemanager_scoperole_changelist")).content.decode()

    assert "team-a" in page
    assert "team-b" not in page


# --- sessions --------------------------------------------------------------------------


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


# --- bodies naming another scope, and users with roles in several scopes ----------------


def test_a_create_body_naming_another_scope_creates_in_the_url_scope(make_client, world):
    _, bravo = world
    client = make_client(team_a=Role.RESOURCE_ADMIN)

    response = client.post("/api/c/team-a/resources",
                           {"provider": MEMORY_KEY, "name": "fresh", "scope": "team-b"},
                           format="json")

    assert Resource.objects.get(name="fresh").scope == "team-a", response.json()
    assert_untouched(bravo)


def test_a_patch_body_cannot_move_a_resource_to_another_scope(make_client, world):
    alpha, _ = world
    client = make_client(team_a=Role.RESOURCE_ADMIN)

    client.patch(f"/api/c/team-a/resources/{alpha.id}",
                 {"scope": "team-b", "name": "moved", "status": "deleted"}, format="json")

    row = Resource.objects.get(pk=alpha.id)
    assert (row.scope, row.name, row.status) == ("team-a", "alpha", Resource.Status.READY)
    assert read_private_row(alpha) == alpha.data


MIXED = {"team_a": Role.RESOURCE_ADMIN, "team_b": Role.USER}


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [("patch", "", {"tags": ["pwned"]}), ("delete", "", None)],
)
def test_managing_one_scope_does_not_allow_managing_another_in_the_api(
    make_client, world, method, suffix, body
):
    _, bravo = world
    client = make_client(**MIXED)

    response = getattr(client, method)(f"/api/c/team-b/resources/{bravo.id}{suffix}", body,
                                       format="json")

    assert response.status_code == 403
    assert_untouched(bravo)


def test_managing_one_scope_does_not_allow_deleting_in_another_in_the_admin(make_client, world):
    _, bravo = world
    client = admin_client(make_client, **MIXED)

    response = client.post(admin_url("delete", bravo.id), {"post": "yes"})

    assert response.status_code == 403
    assert_untouched(bravo)


def test_managing_one_scope_does_not_allow_changing_another_in_the_admin(make_client, world):
    _, bravo = world
    client = admin_client(make_client, **MIXED)

    response = client.post(admin_url("change", bravo.id), {"tags": '["pwned"]',
                                                           "properties": "{}"})

    assert response.status_code == 403
    assert_untouched(bravo)


def test_a_bulk_delete_across_scopes_spares_the_scope_not_managed(make_client, world):
    _, bravo = world
    client = admin_client(make_client, **MIXED)

    client.post(admin_url("changelist"), {"action": "delete_selected", "post": "yes",
                                          "_selected_action": [r.id for r in world]})

    assert_untouched(bravo)
