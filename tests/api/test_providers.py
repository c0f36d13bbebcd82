"""GET /providers: the instances a scope may use, never their secrets."""

from providers.models import Provider

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
    }
    assert CANARY not in response.content.decode()


def test_an_instance_of_another_scope_is_not_found(make_client, pg_provider):
    pg_provider.allowed_scopes = ["team-b"]
    pg_provider.save()
    client = make_client(team_a="ADMIN")

    assert client.get("/api/c/team-a/providers/pg").status_code == 404
    assert make_client(team_b="USER").get("/api/c/team-b/providers/pg").status_code == 200
