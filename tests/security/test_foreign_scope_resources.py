"""Every role in team-a, in the API, against team-b's resources and reserved providers.

However team-a's user names team-b's resource (path, X-Scope header, both, neither), it
cannot read, change, delete or check it, and gets the answer an id that never was gets;
it cannot create in team-b or list there; team-a's lists and filters never include
team-b's resources, deleted ones included; a provider reserved for team-b does not exist
for team-a.
"""

from __future__ import annotations

import uuid

import pytest

from resourcemanager.resources.models import Resource
from tests.security.conftest import MEMORY_KEY, SHARED_TAG
from tests.security.isolation_checks import ACCEPT, payload_of
from tests.security.scope_requests import (
    FORMS,
    alpha_and_bravo,  # noqa: F401 (fixture world)
    assert_reveals_nothing_of,
    assert_untouched,
    call,
    result_names,
)

RENDERERS = ["json", "html"]

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
