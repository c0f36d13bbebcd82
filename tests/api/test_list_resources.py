"""GET /resources: filters, pagination, and the three ways to name a scope.

What is listed is the app's rows: the resources live on two instances of the in-memory
provider class (tests/support/memory_provider.py).
"""

import pytest
from django.test import override_settings

from tests.conftest import declare_memory_instance

TEAM_A = "/api/c/team-a/resources"


@pytest.fixture
def client_with_resources(memory_server, backend_cleanup, memory_provider, make_client):
    declare_memory_instance(backend_cleanup, memory_server, "mem-b")
    client = make_client(team_a="RESOURCE_ADMIN", default="RESOURCE_ADMIN")
    for provider, name, tags in [
        ("mem", "orders", ["analytics", "prod"]),
        ("mem", "staging", ["staging"]),
        ("mem-b", "shop", ["analytics"]),
    ]:
        response = client.post(
            TEAM_A, {"provider": provider, "name": name, "tags": tags}, format="json"
        )
        assert response.status_code == 201
    return client


def names(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return sorted(r["name"] for r in response.json()["results"])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["orders", "shop", "staging"]),
        ({"provider": "mem-b"}, ["shop"]),
        ({"tag": "analytics"}, ["orders", "shop"]),
        ({"tag": "prod"}, ["orders"]),
        ({"tag": "analytic"}, []),
        ({"type": "sql", "status": "ready"}, ["orders", "shop", "staging"]),
        ({"status": "error"}, []),
    ],
)
def test_filters(client_with_resources, query, expected):
    assert names(client_with_resources.get(TEAM_A, query)) == expected


def test_a_bad_filter_value_is_a_400(client_with_resources):
    response = client_with_resources.get(TEAM_A, {"status": "exploded"})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input"


def test_lists_are_paginated_and_hold_no_credentials(client_with_resources):
    page = client_with_resources.get(TEAM_A, {"page_size": 2}).json()

    assert page["count"] == 3
    assert len(page["results"]) == 2
    assert page["next"]
    assert all("credentials" not in r for r in page["results"])


def test_header_and_path_name_the_same_scope(client_with_resources):
    by_header = client_with_resources.get("/api/resources", HTTP_X_SCOPE="team-a")

    assert names(by_header) == names(client_with_resources.get(TEAM_A))


def test_no_scope_means_the_default_scope(client_with_resources):
    assert names(client_with_resources.get("/api/resources")) == []
    with override_settings(RM_DEFAULT_SCOPE="team-a"):
        assert names(client_with_resources.get("/api/resources")) == ["orders", "shop", "staging"]


def test_header_and_path_disagreeing_is_a_400(client_with_resources):
    response = client_with_resources.get(TEAM_A, HTTP_X_SCOPE="team-b")

    assert response.status_code == 400
    assert response.json()["code"] == "scope_mismatch"


@pytest.mark.parametrize("scope", ["Team-A", "team_a", "-team", "a" * 64, "té", "team-a\n"])
def test_a_malformed_scope_is_a_400(client_with_resources, scope):
    response = client_with_resources.get("/api/resources", HTTP_X_SCOPE=scope)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_scope"


def test_scopes_outside_the_allow_list_are_refused(client_with_resources):
    with override_settings(RM_SCOPE_LIST=["team-b"]):
        response = client_with_resources.get(TEAM_A)

    assert response.status_code == 403


def test_routes_answer_with_and_without_trailing_slash(client_with_resources):
    assert names(client_with_resources.get(f"{TEAM_A}/")) == names(
        client_with_resources.get(TEAM_A)
    )


def test_unknown_routes_are_json_404s(client_with_resources):
    response = client_with_resources.get("/api/nothing-here")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_an_id_that_is_no_uuid_is_a_404(client_with_resources):
    response = client_with_resources.get(f"{TEAM_A}/not-a-uuid")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("page_size", ["abc", "0", "-1", "2.5", "", "١٢"])
def test_a_page_size_that_is_not_a_whole_number_is_refused_by_name(
    client_with_resources, page_size
):
    answer = client_with_resources.get(TEAM_A, {"page_size": page_size})

    assert answer.status_code == 400, answer.content
    assert "page_size" in answer.json()["fields"]


@pytest.mark.parametrize("page", ["abc", "0", "-1", "1.5", "", "١٢"])
def test_a_page_that_is_not_a_whole_number_is_refused_by_name(client_with_resources, page):
    answer = client_with_resources.get(TEAM_A, {"page": page})

    assert answer.status_code == 400, answer.content
    assert "page" in answer.json()["fields"]


def test_a_page_past_the_last_is_not_found_and_says_which(client_with_resources):
    answer = client_with_resources.get(TEAM_A, {"page": 99})

    assert answer.status_code == 404
    assert answer.json()["message"].startswith("no page 99")
    assert client_with_resources.get(TEAM_A, {"page": "last"}).status_code == 200


def test_a_page_size_above_the_most_is_the_most(client_with_resources):
    answer = client_with_resources.get(TEAM_A, {"page_size": 100_000})

    assert answer.status_code == 200
