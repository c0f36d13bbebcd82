"""GET /providers: the instances a scope may use, never their secrets."""

import pytest

from providers.models import Provider
from providers.services import probe_providers
from resourcemanager.core.errors import InvalidInput
from resourcemanager.resources.services import resolve_provider

CANARY = "admin-secret-canary-0f9d"


def test_lists_usable_instances_without_secrets(make_client, pg_provider, mysql_provider):
    Provider.objects.create(key="other", provider_class="postgresql", host="10.0.0.9",
                            port=5432, username="boss", password=CANARY,
                            allowed_scopes=["team-b"])
    Provider.objects.create(key="off", provider_class="mysql", host="h", port=3306,
                            username="u", password=CANARY, enabled=False)
    client = make_client(team_a="USER")

    response = client.get("/api/c/team-a/providers")

    assert response.status_code == 200
    assert [p["key"] for p in response.json()] == ["mysql", "pg"]
    assert response.json()[1] == {
        "key": "pg",
        "provider_class": "postgresql",
        "label": "PostgreSQL",
        "resource_type": "sql",
        "description": "",
        "enabled": True,
        "is_default": False,
        "reachability": {"ok": None, "message": "", "checked_at": None},
        "properties": response.json()[1]["properties"],  # test_resource_properties.py
    }
    assert list(response.json()[1]["properties"]) == ["connection_limit"]
    assert CANARY not in response.content.decode()


def test_an_instance_of_another_scope_is_not_found(make_client, pg_provider):
    pg_provider.allowed_scopes = ["team-b"]
    pg_provider.save()
    client = make_client(team_a="ADMIN")

    assert client.get("/api/c/team-a/providers/pg").status_code == 404
    assert make_client(team_b="USER").get("/api/c/team-b/providers/pg").status_code == 200


def test_reachability_comes_from_the_last_probe(make_client, pg_provider):
    Provider.objects.create(key="down", provider_class="postgresql", host="127.0.0.1", port=1,
                            username="boss", password=CANARY)
    client = make_client(team_a="USER")

    problems = probe_providers()

    assert problems == {"down": problems["down"], "pg": None}
    listed = {p["key"]: p["reachability"] for p in client.get("/api/c/team-a/providers").json()}
    assert listed["pg"]["ok"] is True
    assert listed["pg"]["checked_at"]
    assert listed["down"]["ok"] is False
    assert listed["down"]["message"].startswith("the PostgreSQL server could not be reached")
    assert Provider.objects.get(key="down").reachability_message.startswith(
        "cannot reach PostgreSQL at 127.0.0.1:1")  # the detail, for operators
    assert CANARY not in str(listed)


TEAM_A = "/api/c/team-a/resources"


def test_a_request_for_a_class_goes_to_its_default_instance(make_client, pg_provider):
    Provider.objects.create(key="pg-main", provider_class="postgresql", host=pg_provider.host,
                            port=pg_provider.port, username=pg_provider.username,
                            password=pg_provider.password, is_default=True)
    client = make_client(team_a="RESOURCE_ADMIN")

    response = client.post(TEAM_A, {"provider": "postgresql", "name": "orders"}, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["provider"] == "pg-main"
    assert response.json()["status"] == "ready"


def test_instances_route_by_allowed_scope(make_client, pg_provider):
    """Two instances of one class (on the same server here), each for its own scope."""
    pg_provider.allowed_scopes = ["team-a"]
    pg_provider.save()
    Provider.objects.create(key="pg-b", provider_class="postgresql", host=pg_provider.host,
                            port=pg_provider.port, username=pg_provider.username,
                            password=pg_provider.password, allowed_scopes=["team-b"])
    alice = make_client(team_a="RESOURCE_ADMIN", team_b="RESOURCE_ADMIN")

    by_class_a = alice.post(TEAM_A, {"provider": "postgresql", "name": "x"}, format="json")
    by_class_b = alice.post("/api/c/team-b/resources", {"provider": "postgresql", "name": "x"},
                            format="json")
    refused = alice.post(TEAM_A, {"provider": "pg-b", "name": "y"}, format="json")

    assert by_class_a.json()["provider"] == "pg"
    assert by_class_b.json()["provider"] == "pg-b"
    assert refused.status_code == 400
    assert refused.json()["code"] == "unknown_provider"


def test_the_instance_a_request_names_is_chosen_in_one_read(db, django_assert_num_queries):
    def make(key: str, provider_class: str = "postgresql", **fields) -> Provider:
        return Provider.objects.create(key=key, provider_class=provider_class,
                                       host="127.0.0.1", port=1, username="admin", **fields)

    make("pg-b")
    make("pg-a")
    make("pg-main", is_default=True)
    make("pg-off", is_default=True, enabled=False)
    make("pg-elsewhere", is_default=True, allowed_scopes=["team-b"])
    make("postgresql", provider_class="mysql")  # an instance named like a class
    make("my-a", provider_class="mysql")
    make("mongo-b", provider_class="mongodb")
    make("mongo-a", provider_class="mongodb")

    def chosen(name: str) -> str:
        with django_assert_num_queries(1):
            return resolve_provider("team-a", name).key

    assert chosen("pg-b") == "pg-b"  # by key, default or not
    assert chosen("postgresql") == "postgresql"  # the named instance comes first
    assert chosen("mysql") == "my-a"  # the first by key, without a default
    assert chosen("mongodb") == "mongo-a"
    assert resolve_provider("team-b", "pg-elsewhere").key == "pg-elsewhere"
    for refused in ("pg-off", "pg-elsewhere", "s3", "PG-B"):
        with pytest.raises(InvalidInput):
            resolve_provider("team-a", refused)
