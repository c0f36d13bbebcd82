"""One property validator for resources and consumers: through the API, bad properties are
a 400 that names the property (never its value), never a 500, and nothing is stored."""

from __future__ import annotations

import pytest

from consumers.models import Consumer
from resourcemanager.resources.models import Resource
from tests.consumers.conftest import TEAM_A, add_consumer

HOOK = "http://127.0.0.1:1/hook"
TOOL = "http://127.0.0.1:1/"
WEBHOOK = {"url": HOOK, "secret": "whsec-x"}
SUPERSET = {"url": TOOL, "username": "admin", "password": "pw-x"}
CANARY = "odd-value-canary"

CONSUMER_CASES = [
    # bounds
    ("webhook", {**WEBHOOK, "timeout": 0}, "property 'timeout' must be an integer from 1 to 120"),
    ("webhook", {**WEBHOOK, "timeout": 121}, "property 'timeout' must be an integer from 1 to 120"),
    ("superset", {**SUPERSET, "timeout": -5}, "property 'timeout' must be an integer from 1 to"),
    # choices
    ("superset", {**SUPERSET, "provider": CANARY}, "property 'provider' must be one of db, ldap"),
    ("superset", {**SUPERSET, "provider": [CANARY]}, "property 'provider' must be one of db"),
    # types
    ("webhook", {**WEBHOOK, "timeout": "10"}, "property 'timeout' must be an integer"),
    ("webhook", {**WEBHOOK, "timeout": True}, "property 'timeout' must be an integer"),
    ("webhook", {**WEBHOOK, "include_credentials": "yes"},
     "property 'include_credentials' must be true or false"),
    ("webhook", {**WEBHOOK, "url": 5}, "property 'url' must be an http(s) URL"),
    ("webhook", {**WEBHOOK, "url": "http://\u0000/"}, "property 'url' must be an http(s) URL"),
    ("webhook", {**WEBHOOK, "url": "http://h:99999/"}, "property 'url' must be an http(s) URL"),
    ("webhook", {**WEBHOOK, "url": "http://h:0/"}, "property 'url' must be an http(s) URL"),
    ("webhook", {**WEBHOOK, "url": "http://[::1/"}, "property 'url' must be an http(s) URL"),
    ("webhook", {**WEBHOOK, "url": f"http://{'h' * 300}/"},
     "property 'url' must be an http(s) URL"),
    ("webhook", {**WEBHOOK, "secret": {"k": CANARY}}, "property 'secret' must be a string"),
    ("superset", {**SUPERSET, "username": "x" * 256}, "property 'username' must be a string of"),
    # unknown keys
    ("webhook", {**WEBHOOK, "nope": 1}, "unknown property 'nope'; known properties: url,"),
    ("log", {"nope": 1}, "unknown property 'nope'; known properties: none"),
    # required
    ("webhook", {"url": HOOK}, "property 'secret' is required"),
    ("webhook", {"url": HOOK, "secret": ""}, "property 'secret' is required"),
    ("webhook", {"url": HOOK, "secret": "********"}, "property 'secret' is required"),
    ("superset", {"url": TOOL, "password": "pw"}, "property 'username' is required"),
]


@pytest.mark.parametrize(("builder", "properties", "message"), CONSUMER_CASES)
def test_bad_consumer_properties_are_a_clear_400(owner, builder, properties, message):
    response = owner.post(f"{TEAM_A}/consumers", {
        "builder": builder, "name": "tool", "properties": properties,
    }, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_properties"
    assert response.json()["message"].startswith(message)
    assert CANARY not in response.content.decode()
    assert not Consumer.objects.exists()


@pytest.mark.parametrize("properties", [[CANARY], CANARY, 5])
def test_properties_that_are_not_an_object_are_a_400(owner, properties):
    response = owner.post(f"{TEAM_A}/consumers", {
        "builder": "webhook", "name": "tool", "properties": properties,
    }, format="json")

    assert response.status_code == 400, response.content
    assert "properties" in response.json()["fields"]
    assert not Consumer.objects.exists()


@pytest.mark.parametrize(("properties", "message"), [
    ({"timeout": 500}, "property 'timeout' must be an integer from 1 to 120"),
    ({"provider": "saml"}, "property 'provider' must be one of db, ldap"),
    ({"username": None}, "property 'username' is required"),
    ({"password": 7}, "property 'password' must be a string"),
])
def test_bad_consumer_properties_are_refused_on_update_too(owner, properties, message):
    consumer = add_consumer(owner, builder="superset", name="bi", properties=SUPERSET)

    response = owner.patch(f"{TEAM_A}/consumers/{consumer['id']}", {"properties": properties},
                           format="json")

    assert response.status_code == 400, response.content
    assert response.json()["message"].startswith(message)
    assert Consumer.objects.get().properties == {**SUPERSET, "verify_tls": True,
                                                 "timeout": 10, "provider": "db"}


def test_consumer_defaults_are_filled_in_and_valid_values_kept(owner):
    hook = add_consumer(owner, builder="webhook", name="hook", properties=WEBHOOK)
    bi = add_consumer(owner, builder="superset", name="bi",
                      properties={**SUPERSET, "provider": "ldap", "timeout": 120})

    assert hook["properties"] == {"url": HOOK, "secret": "********", "timeout": 10,
                                  "include_credentials": False}
    assert Consumer.objects.get(name="bi").properties == {
        **SUPERSET, "provider": "ldap", "timeout": 120, "verify_tls": True,
    }
    assert bi["properties"]["password"] == "********"

    restored = owner.patch(f"{TEAM_A}/consumers/{bi['id']}",
                           {"properties": {"provider": None, "timeout": None}}, format="json")

    assert restored.status_code == 200, restored.content
    assert Consumer.objects.get(name="bi").properties == {
        **SUPERSET, "provider": "db", "timeout": 10, "verify_tls": True,
    }


RESOURCE_CASES = [
    # bounds
    ("pg", {"connection_limit": 0}, "property 'connection_limit' must be an integer from 1 to"),
    ("pg", {"connection_limit": 10_001}, "property 'connection_limit' must be an integer from"),
    ("mysql", {"max_user_connections": -1},
     "property 'max_user_connections' must be an integer from 0 to 10000"),
    # types
    ("pg", {"connection_limit": "5"}, "property 'connection_limit' must be an integer"),
    ("pg", {"connection_limit": 2.5}, "property 'connection_limit' must be an integer"),
    # unknown keys
    ("pg", {"nope": CANARY}, "unknown property 'nope'; known properties: connection_limit"),
    ("mysql", {f"{CANARY}'; --": 1}, "unknown a property; known properties:"),
]


@pytest.mark.parametrize(("provider", "properties", "message"), RESOURCE_CASES)
def test_bad_resource_properties_are_a_clear_400(
    make_client, pg_provider, mysql_provider, provider, properties, message
):
    client = make_client(team_a="RESOURCE_ADMIN")

    response = client.post("/api/c/team-a/resources", {
        "provider": provider, "name": "orders", "properties": properties,
    }, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_properties"
    assert response.json()["message"].startswith(message)
    assert CANARY not in response.content.decode()
    assert not Resource.objects.exists()


def test_resource_defaults_are_filled_in_and_bounds_hold_on_update(make_client, mysql_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    created = client.post("/api/c/team-a/resources", {"provider": "mysql", "name": "orders"},
                          format="json")
    assert created.status_code == 201, created.content
    url = f"/api/c/team-a/resources/{created.json()['id']}"

    refused = client.patch(url, {"properties": {"max_user_connections": 10_001}}, format="json")

    assert Resource.objects.get().properties == {"max_user_connections": 0}
    assert refused.status_code == 400, refused.content
    assert refused.json()["message"].startswith(
        "property 'max_user_connections' must be an integer from 0 to 10000"
    )
