"""DELETE /resources/{id}: database, login and data gone from the server; repeatable."""

from resourcemanager.resources.models import Resource
from tests.conftest import PG_PORT, mysql_admin_connect, pg_admin_connect

TEAM_A = "/api/c/team-a/resources"


def pg_objects(name: str) -> tuple[int, int]:
    with pg_admin_connect() as conn:
        databases = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,))
        roles = conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (name,))
        return databases.fetchone()[0], roles.fetchone()[0]


def mysql_objects(name: str) -> tuple[int, int]:
    with mysql_admin_connect() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                       (name,))
        databases = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM mysql.user WHERE User = %s", (name,))
        return databases, cursor.fetchone()[0]


def test_delete_drops_postgresql_database_and_login(make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = client.post(TEAM_A, {"provider": "pg", "name": "orders"}, format="json").json()
    backend_name = resource["credentials"]["database"]
    assert pg_objects(backend_name) == (1, 1)

    response = client.delete(f"{TEAM_A}/{resource['id']}")

    assert response.status_code == 202
    assert response.json()["status"] == "deleted"
    assert "credentials" not in response.json()
    assert pg_objects(backend_name) == (0, 0)
    assert Resource.objects.get(pk=resource["id"]).credentials is None


def test_delete_drops_mysql_database_and_account(make_client, mysql_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = client.post(TEAM_A, {"provider": "mysql", "name": "orders"}, format="json").json()
    backend_name = resource["credentials"]["database"]
    assert mysql_objects(backend_name) == (1, 1)

    client.delete(f"{TEAM_A}/{resource['id']}")

    assert mysql_objects(backend_name) == (0, 0)


def test_a_second_delete_is_harmless(make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = client.post(TEAM_A, {"provider": "pg", "name": "orders"}, format="json").json()
    client.delete(f"{TEAM_A}/{resource['id']}")

    again = client.delete(f"{TEAM_A}/{resource['id']}")

    assert again.status_code == 202
    assert again.json()["status"] == "deleted"


def test_deleted_resources_leave_the_default_list(make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = client.post(TEAM_A, {"provider": "pg", "name": "orders"}, format="json").json()
    client.delete(f"{TEAM_A}/{resource['id']}")

    assert client.get(TEAM_A).json()["count"] == 0
    deleted = client.get(TEAM_A, {"status": "deleted"}).json()
    assert [r["id"] for r in deleted["results"]] == [resource["id"]]


def test_deleting_a_resource_whose_creation_failed_cleans_up(make_client, pg_provider):
    pg_provider.port = 1
    pg_provider.save()
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = client.post(TEAM_A, {"provider": "pg", "name": "orders"}, format="json").json()
    assert resource["status"] == "error"
    pg_provider.port = PG_PORT
    pg_provider.save()

    response = client.delete(f"{TEAM_A}/{resource['id']}")

    assert response.json()["status"] == "deleted"


def test_a_failed_delete_keeps_the_resource_and_can_be_repeated(make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = client.post(TEAM_A, {"provider": "pg", "name": "orders"}, format="json").json()
    backend_name = resource["credentials"]["database"]
    pg_provider.port = 1
    pg_provider.save()

    failed = client.delete(f"{TEAM_A}/{resource['id']}").json()

    assert failed["status"] == "error"
    assert failed["status_message"].startswith("the PostgreSQL server could not be reached")
    assert pg_objects(backend_name) == (1, 1)
    pg_provider.port = PG_PORT
    pg_provider.save()
    assert client.delete(f"{TEAM_A}/{resource['id']}").json()["status"] == "deleted"
    assert pg_objects(backend_name) == (0, 0)
