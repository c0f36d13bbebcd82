"""POST /resources: real databases and logins on the local servers."""

import psycopg
import pymysql
import pytest

from resourcemanager.resources.models import Resource
from tests.conftest import PG_PORT, mysql_admin_connect, pg_admin_connect

TEAM_A = "/api/c/team-a/resources"


def create(client, url=TEAM_A, **body):
    return client.post(url, body, format="json")


def test_postgresql_resource_is_usable_with_its_credential(make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN")

    response = create(client, provider="pg", name="orders", tags=["analytics"])

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "ready"
    assert body["type"] == "sql"
    assert body["tags"] == ["analytics"]
    credentials = body["credentials"]
    assert credentials["uri"].startswith("postgresql://")
    assert len(credentials["password"]) >= 32
    assert "orders" not in credentials["database"] and "team" not in credentials["database"]
    with psycopg.connect(credentials["uri"], autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int primary key, v text)")
        conn.execute("INSERT INTO t VALUES (1, 'hello')")
        assert conn.execute("SELECT v FROM t").fetchone() == ("hello",)
        assert conn.execute("SELECT current_user").fetchone() == (credentials["username"],)


def test_mysql_resource_is_usable_with_its_credential(make_client, mysql_provider):
    client = make_client(team_a="ADMIN")

    response = create(client, provider="mysql", name="orders")

    assert response.status_code == 201, response.json()
    credentials = response.json()["credentials"]
    assert credentials["uri"].startswith("mysql://")
    conn = pymysql.connect(
        host=credentials["host"], port=credentials["port"], user=credentials["username"],
        password=credentials["password"], database=credentials["database"], autocommit=True,
    )
    with conn, conn.cursor() as cursor:
        cursor.execute("CREATE TABLE t (id int primary key, v text)")
        cursor.execute("INSERT INTO t VALUES (1, 'hello')")
        cursor.execute("SELECT v FROM t")
        assert cursor.fetchone() == ("hello",)


def test_the_same_name_twice_in_a_scope_is_a_conflict(make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN", team_b="RESOURCE_ADMIN")
    assert create(client, provider="pg", name="orders").status_code == 201

    again = create(client, provider="pg", name="orders")
    other_scope = create(client, "/api/c/team-b/resources", provider="pg", name="orders")

    assert again.status_code == 409
    assert again.json()["code"] == "name_taken"
    assert other_scope.status_code == 201


def test_a_name_is_free_again_once_its_resource_is_deleted(make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    first = create(client, provider="pg", name="orders").json()
    client.delete(f"{TEAM_A}/{first['id']}")

    assert create(client, provider="pg", name="orders").status_code == 201


def server_databases() -> set[str]:
    """Databases on the server, less those that parallel tests create and drop."""
    with pg_admin_connect() as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname NOT LIKE 'rm\\_%' "
            "AND datname NOT LIKE 'test\\_%'"
        ).fetchall()
    return {name for (name,) in rows}


BAD_NAMES = [
    "bad'name",
    'bad"name',
    "x; DROP DATABASE postgres; --",
    "has space",
    "naïve",
    "名前",
    "a" * 64,
    "",
    "-leading-dash",
    "back`tick",
    "new\nline",
    "orders\n",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_refused_before_reaching_a_server(make_client, pg_provider, name):
    client = make_client(team_a="RESOURCE_ADMIN")
    before = server_databases()

    response = create(client, provider="pg", name=name)

    assert response.status_code == 400
    assert response.json()["code"] in ("invalid_name", "invalid_input")
    assert "name" in response.json()["fields"]
    assert server_databases() == before
    assert not Resource.objects.exists()


@pytest.mark.parametrize(
    "tags", [["Upper"], ["a b"], ["x'; --"], "not-a-list", [""], [f"t{i}" for i in range(21)]]
)
def test_bad_tags_are_refused(make_client, pg_provider, tags):
    client = make_client(team_a="RESOURCE_ADMIN")

    response = create(client, provider="pg", name="orders", tags=tags)

    assert response.status_code == 400
    assert response.json()["code"] in ("invalid_tags", "invalid_input")


def test_properties_are_validated_by_the_provider(make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN")

    response = create(client, provider="pg", name="orders", properties={"owner": "x'; --"})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_properties"


@pytest.mark.parametrize("provider", ["nope", "pg'; --", ""])
def test_unknown_provider_is_refused(make_client, pg_provider, provider):
    client = make_client(team_a="RESOURCE_ADMIN")

    response = create(client, provider=provider, name="orders")

    assert response.status_code == 400
    assert response.json()["code"] in ("unknown_provider", "invalid_input")


def test_provider_restricted_to_other_scopes_is_unknown_here(make_client, pg_provider):
    pg_provider.allowed_scopes = ["team-b"]
    pg_provider.save()
    client = make_client(team_a="RESOURCE_ADMIN")

    response = create(client, provider="pg", name="orders")

    assert response.status_code == 400
    assert response.json()["code"] == "unknown_provider"


def test_malformed_json_is_a_clear_400(make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN")

    response = client.post(TEAM_A, "{not json", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "malformed_request"


def test_unreachable_backend_ends_in_error_and_the_api_keeps_answering(
    make_client, pg_provider
):
    pg_provider.port = 1  # nothing listens there
    pg_provider.save()
    client = make_client(team_a="RESOURCE_ADMIN")

    response = create(client, provider="pg", name="orders")

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "error"
    assert body["status_message"].startswith("the PostgreSQL server could not be reached")
    assert body["credentials"] is None
    assert client.get(TEAM_A).status_code == 200


def test_a_failed_creation_is_retried_by_check(make_client, pg_provider):
    pg_provider.port = 1
    pg_provider.save()
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = create(client, provider="pg", name="orders").json()
    pg_provider.port = PG_PORT
    pg_provider.save()

    client.post(f"{TEAM_A}/{resource['id']}/check", format="json")

    detail = client.post(f"{TEAM_A}/{resource['id']}/reveal").json()
    assert detail["status"] == "ready"
    with psycopg.connect(detail["credentials"]["uri"]) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_mysql_names_are_refused_like_postgresql_ones(make_client, mysql_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    with mysql_admin_connect() as conn, conn.cursor() as cursor:
        stable = ("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA "
                  "WHERE SCHEMA_NAME NOT LIKE 'rm\\_%'")
        cursor.execute(stable)
        before = cursor.fetchall()

        response = create(client, provider="mysql", name="x`; DROP DATABASE mysql; --")

        cursor.execute(stable)
        after = cursor.fetchall()
    assert set(before) <= set(after)  # nothing dropped (other tests may make theirs meanwhile)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_name"
