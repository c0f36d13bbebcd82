"""Request bodies are JSON, with the fields and types each route documents: anything
else is a 400 (415 for another media type) naming the field, and nothing changes.

One module for every route, since one base (``resourcemanager.api.strict``) does it for
all of them; resources live on the in-memory provider (tests/support/memory_provider.py).
"""

from __future__ import annotations

import pytest
from django.test import Client

from resourcemanager.resources.models import Resource
from tests.support.credentials import issued_credentials

TEAM_A = "/api/c/team-a"


@pytest.fixture
def admin(make_client, memory_provider):
    return make_client(team_a="ADMIN")


@pytest.fixture
def resource(admin) -> dict:
    response = admin.post(f"{TEAM_A}/resources", {"provider": "mem", "name": "orders"},
                          format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def refused(response, field: str, words: str) -> None:
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == "invalid_input"
    assert words in body["fields"][field][0], body


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"provider": "mem", "name": "orders", "propertes": {}}, "propertes", "unknown field"),
        ({"provider": "mem", "name": "orders", "managed": "maybe"}, "managed", "unknown"),
        ({"provider": "mem", "name": 123}, "name", "must be a string"),
        ({"provider": ["mem"], "name": "orders"}, "provider", "must be a string"),
        ({"provider": "mem", "name": "orders", "tags": "prod"}, "tags", "must be an array"),
        ({"provider": "mem", "name": "orders", "tags": ["prod", 7]}, "tags",
         "item 1: must be a string"),
        ({"provider": "mem", "name": "orders", "properties": []}, "properties",
         "must be an object"),
        ({"provider": "mem", "name": ""}, "name", "blank"),
        ({"provider": "", "name": "orders"}, "provider", "blank"),
    ],
)
def test_create_refuses_unknown_fields_and_wrong_types(admin, body, field, words):
    refused(admin.post(f"{TEAM_A}/resources", body, format="json"), field, words)
    assert not Resource.objects.exists()


def test_the_refusal_names_the_fields_the_request_takes(admin):
    response = admin.post(f"{TEAM_A}/resources",
                          {"provider": "mem", "name": "orders", "propertes": {}}, format="json")

    assert response.json()["fields"]["propertes"] == [
        "unknown field; this request takes from_backup, name, properties, provider, tags"]


def test_update_refuses_fields_it_does_not_change(admin, resource):
    url = f"{TEAM_A}/resources/{resource['id']}"

    refused(admin.patch(url, {"name": "renamed"}, format="json"), "name", "unknown field")
    refused(admin.patch(url, {"tags": [1]}, format="json"), "tags", "must be a string")
    assert Resource.objects.get().name == "orders"


@pytest.mark.parametrize("repair", ["yes", 1, "true"])
def test_check_takes_only_a_real_boolean(admin, resource, repair):
    url = f"{TEAM_A}/resources/{resource['id']}/check"

    refused(admin.post(url, {"repair": repair}, format="json"), "repair", "true or false")


def test_credential_requests_take_whole_numbers_only(admin, resource):
    url = f"{TEAM_A}/resources/{resource['id']}/credentials"

    refused(admin.post(url, {"holder": "app", "access": "read-only", "ttl": "3600"},
                       format="json"), "ttl", "must be an integer")
    refused(admin.post(url, {"holder": "app", "access": "read-only", "ttl": True},
                       format="json"), "ttl", "must be an integer")
    assert not issued_credentials().filter(resource=Resource.objects.get()).exists()


def test_a_rotation_schedule_takes_a_whole_number_or_null(admin, resource):
    owner = admin.get(f"{TEAM_A}/resources/{resource['id']}/credentials").json()["results"]
    url = f"{TEAM_A}/resources/{resource['id']}/credentials/{owner[0]['id']}"

    refused(admin.patch(url, {"rotation_period": "3600"}, format="json"),
            "rotation_period", "must be an integer")
    refused(admin.patch(url, {"rotation_period": 3600, "grace": 5}, format="json"),
            "grace", "unknown field")


def test_token_and_settings_requests_are_strict_too(admin):
    refused(admin.post(f"{TEAM_A}/tokens", {"name": "ci", "expires_in_days": "30"},
                       format="json"), "expires_in_days", "must be an integer")
    refused(admin.patch(f"{TEAM_A}/settings", {"credential_default_ttl": "60"}, format="json"),
            "credential_default_ttl", "must be an integer")
    refused(admin.patch(f"{TEAM_A}/settings", {"scope": "team-b"}, format="json"),
            "scope", "read-only field")


@pytest.mark.parametrize(("value", "expected"), [("true", 200), ("false", 200),
                                                 ("maybe", 400), ("1", 400)])
def test_the_managed_filter_takes_true_or_false_only(admin, resource, value, expected):
    response = admin.get(f"{TEAM_A}/resources", {"managed": value})

    assert response.status_code == expected, response.json()
    if expected == 400:
        assert response.json()["fields"]["managed"] == ["must be true or false"]
    else:
        assert len(response.json()["results"]) == (value == "true")


@pytest.mark.parametrize(("path", "body"), [
    ("resources", "[" * 10_000 + "]" * 10_000),
    ("settings", '{"credential_self_service": "\\ud800"}'),
    ("resources", '{"provider": "mem", "name": "orders", "tags": ["\\udfff"]}'),
    ("consumers", '{"builder": "webhook", "name": "hook", "properties": '
                  '{"url": "http://127.0.0.1:9/", "secret": "\\ud800"}}'),
])
def test_json_python_cannot_take_is_malformed_not_a_server_error(admin, path, body):
    method = admin.patch if path == "settings" else admin.post
    response = method(f"{TEAM_A}/{path}", body, content_type="application/json")

    assert response.status_code == 400, response.content[:300]
    assert response.json()["code"] == "malformed_request"
    assert not Resource.objects.exists()


@pytest.mark.parametrize("fmt", ["multipart", None])
def test_form_bodies_are_refused_where_the_api_takes_json(admin, fmt):
    body = {"provider": "mem", "name": "orders"}
    if fmt is None:  # an HTML form's encoding
        response = admin.generic("POST", f"{TEAM_A}/resources", "provider=mem&name=orders",
                                 content_type="application/x-www-form-urlencoded")
    else:
        response = admin.post(f"{TEAM_A}/resources", body, format=fmt)

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert not Resource.objects.exists()


@pytest.mark.django_db
def test_the_schema_says_required_strings_are_not_blank_and_page_size_is_an_integer():
    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/json").json()
    components = schema["components"]["schemas"]

    create = components["ResourceCreateRequest"]
    for field in ("provider", "name"):
        assert field in create["required"]
        assert create["properties"][field]["minLength"] == 1, field
    assert components["ResourceAddRequest"]["properties"]["uri"]["minLength"] == 1
    assert "id" not in components.get("ScopeSettingsRequest", {}).get("properties", {})
    parameters = {p["name"]: p for p in schema["paths"]["/api/resources/"]["get"]["parameters"]}
    assert parameters["page_size"]["schema"]["type"] == "integer"
