"""Resource properties through the API, applied on the local servers: PostgreSQL's
connection limit, MariaDB's max_user_connections, S3 bucket versioning (moto)."""

from __future__ import annotations

import contextlib

import psycopg
import pymysql
import pytest

from providers.adapters.postgresql import PostgreSQLAdapter
from providers.adapters.properties import PropertySpec
from resourcemanager.resources.models import Resource
from tests.conftest import mysql_admin_connect, pg_admin_connect

TEAM_A = "/api/c/team-a/resources"


def create(client, **body):
    return client.post(TEAM_A, body, format="json")


def patch(client, resource_id, properties):
    return client.patch(f"{TEAM_A}/{resource_id}", {"properties": properties}, format="json")


def rolconnlimit(role: str) -> int:
    with pg_admin_connect() as conn:
        return conn.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = %s",
                            (role,)).fetchone()[0]


def pg_login(credentials: dict) -> psycopg.Connection:
    return psycopg.connect(credentials["uri"], autocommit=True, connect_timeout=5)


def test_postgresql_connection_limit_is_applied_enforced_and_updated(make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN")

    response = create(client, provider="pg", name="orders",
                      properties={"connection_limit": 2})

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "ready"
    assert body["properties"] == {"connection_limit": 2}
    credentials = body["credentials"]
    assert rolconnlimit(credentials["username"]) == 2
    with contextlib.ExitStack() as sessions:
        for _ in range(2):
            sessions.enter_context(pg_login(credentials))
        with pytest.raises(psycopg.OperationalError, match="too many connections for role"):
            pg_login(credentials)

        # CHECK does not fail because the tenant uses all its sessions
        checked = client.post(f"{TEAM_A}/{body['id']}/check", {}, format="json").json()
        assert checked["last_check"]["ok"] is True, checked["last_check"]

        updated = patch(client, body["id"], {"connection_limit": 5})
        assert updated.status_code == 200, updated.json()
        assert updated.json()["properties"] == {"connection_limit": 5}
        assert rolconnlimit(credentials["username"]) == 5
        sessions.enter_context(pg_login(credentials)).execute("SELECT 1")

    assert patch(client, body["id"], {"connection_limit": None}).status_code == 200
    assert rolconnlimit(credentials["username"]) == -1


def test_postgresql_default_is_unlimited(make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN")

    body = create(client, provider="pg", name="orders").json()

    assert body["properties"] == {"connection_limit": None}
    assert rolconnlimit(body["credentials"]["username"]) == -1


def mysql_limit(user: str) -> int:
    with mysql_admin_connect() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT max_user_connections FROM mysql.user WHERE User = %s", (user,))
        return int(cursor.fetchone()[0])


def mysql_login(credentials: dict) -> pymysql.Connection:
    return pymysql.connect(host=credentials["host"], port=credentials["port"],
                           user=credentials["username"], password=credentials["password"],
                           database=credentials["database"], connect_timeout=5)


def test_mysql_max_user_connections_is_applied_enforced_and_updated(make_client,
                                                                    mysql_provider):
    client = make_client(team_a="RESOURCE_ADMIN")

    response = create(client, provider="mysql", name="orders",
                      properties={"max_user_connections": 1})

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "ready"
    credentials = body["credentials"]
    assert mysql_limit(credentials["username"]) == 1
    with mysql_login(credentials):
        with pytest.raises(pymysql.OperationalError) as refused:
            mysql_login(credentials)
        assert refused.value.args[0] == 1226  # ER_USER_LIMIT_REACHED

        checked = client.post(f"{TEAM_A}/{body['id']}/check", {}, format="json").json()
        assert checked["last_check"]["ok"] is True, checked["last_check"]
        assert "not verified" in checked["last_check"]["message"]

        assert patch(client, body["id"], {"max_user_connections": 3}).status_code == 200
        assert mysql_limit(credentials["username"]) == 3
        mysql_login(credentials).close()

    assert patch(client, body["id"], {"max_user_connections": 0}).status_code == 200
    assert mysql_limit(credentials["username"]) == 0


def test_a_check_that_recreates_the_login_applies_its_limit_again(make_client,
                                                                  mysql_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    body = create(client, provider="mysql", name="orders",
                  properties={"max_user_connections": 2}).json()
    with mysql_admin_connect() as conn, conn.cursor() as cursor:
        cursor.execute("DROP USER %s@'%%'", (body["credentials"]["username"],))

    checked = client.post(f"{TEAM_A}/{body['id']}/check", {}, format="json").json()

    assert checked["last_check"]["ok"] is True, checked["last_check"]
    assert "login re-created" in checked["last_check"]["message"]
    assert mysql_limit(body["credentials"]["username"]) == 2


def test_s3_versioning_is_applied_and_suspended(make_client, s3_provider, moto_s3):
    client = make_client(team_a="RESOURCE_ADMIN")
    admin = moto_s3.client("s3")

    plain = create(client, provider="s3", name="plain").json()
    response = create(client, provider="s3", name="archive", properties={"versioning": True})

    assert plain["properties"] == {"versioning": False}
    assert "Status" not in admin.get_bucket_versioning(Bucket=plain["credentials"]["database"])
    assert response.status_code == 201, response.json()
    body = response.json()
    bucket = body["credentials"]["database"]
    assert admin.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    tenant = moto_s3.client("s3", body["credentials"]["username"],
                            body["credentials"]["password"])
    for text in (b"one", b"two"):
        tenant.put_object(Bucket=bucket, Key="k", Body=text)
    assert len(admin.list_object_versions(Bucket=bucket)["Versions"]) == 2

    assert patch(client, body["id"], {"versioning": False}).status_code == 200
    assert admin.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    assert patch(client, body["id"], {"versioning": True}).status_code == 200
    assert admin.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"


BAD_PG_PROPERTIES = [
    {"owner": "x"},
    {"x'; DROP ROLE postgres; --": 1},
    {"connection_limit": "2"},
    {"connection_limit": "2; DROP ROLE postgres"},
    {"connection_limit": "'); SELECT pg_sleep(10); --"},
    {"connection_limit": True},
    {"connection_limit": 2.5},
    {"connection_limit": [2]},
    {"connection_limit": {"n": 2}},
    {"connection_limit": 0},
    {"connection_limit": -1},
    {"connection_limit": 10_001},
    {"connection_limit": 10**40},
    {"connection_limit": 2, "versioning": True},
]


@pytest.mark.parametrize("properties", BAD_PG_PROPERTIES)
def test_bad_properties_are_refused_before_anything_happens(make_client, pg_provider,
                                                            properties):
    client = make_client(team_a="RESOURCE_ADMIN")

    response = create(client, provider="pg", name="orders", properties=properties)

    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == "invalid_properties"
    assert "DROP" not in str(body) and "pg_sleep" not in str(body)
    assert not Resource.objects.exists()


@pytest.mark.parametrize("properties", BAD_PG_PROPERTIES)
def test_bad_updates_are_refused_and_nothing_changes(make_client, pg_provider, properties):
    client = make_client(team_a="RESOURCE_ADMIN")
    body = create(client, provider="pg", name="orders", properties={"connection_limit": 3}).json()

    response = patch(client, body["id"], properties)

    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "invalid_properties"
    assert client.get(f"{TEAM_A}/{body['id']}").json()["properties"] == {"connection_limit": 3}
    assert rolconnlimit(body["credentials"]["username"]) == 3


@pytest.mark.parametrize(("provider", "properties"), [
    ("mysql", {"max_user_connections": -1}),
    ("mysql", {"max_user_connections": False}),
    ("mysql", {"connection_limit": 2}),
    ("s3", {"versioning": "true"}),
    ("s3", {"versioning": 1}),
    ("mongo", {"anything": 1}),
])
def test_other_classes_check_their_own_schema(request, make_client, provider, properties):
    request.getfixturevalue(f"{provider}_provider")  # only the instance the test asks for
    client = make_client(team_a="RESOURCE_ADMIN")

    response = create(client, provider=provider, name="orders", properties=properties)

    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "invalid_properties"


def test_properties_must_be_an_object(make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN")

    response = create(client, provider="pg", name="orders", properties=["connection_limit"])

    assert response.status_code == 400


def test_a_property_that_is_not_updatable_cannot_change(make_client, pg_provider,
                                                        monkeypatch):
    monkeypatch.setattr(PostgreSQLAdapter, "properties", {
        **PostgreSQLAdapter.properties,
        "tier": PropertySpec("Size class", kind="choice", choices=("small", "large"),
                             default="small", updatable=False),
    })
    client = make_client(team_a="RESOURCE_ADMIN")
    body = create(client, provider="pg", name="orders", properties={"tier": "large"}).json()
    assert body["properties"] == {"connection_limit": None, "tier": "large"}

    refused = patch(client, body["id"], {"tier": "small", "connection_limit": 4})
    accepted = patch(client, body["id"], {"connection_limit": 4})

    assert refused.status_code == 400
    assert refused.json()["code"] == "invalid_properties"
    assert "'tier' cannot be changed after creation" in str(refused.json())
    assert accepted.status_code == 200, accepted.json()
    assert accepted.json()["properties"] == {"connection_limit": 4, "tier": "large"}
    assert rolconnlimit(body["credentials"]["username"]) == 4


def test_the_api_publishes_each_providers_schema(make_client, pg_provider, mysql_provider,
                                                 s3_provider, mongo_provider):
    client = make_client(team_a="USER")

    listed = {p["key"]: p["properties"] for p in client.get("/api/c/team-a/providers").json()}
    one = client.get("/api/c/team-a/providers/pg").json()

    assert listed["pg"] == one["properties"] == {"connection_limit": {
        "kind": "integer",
        "description": PostgreSQLAdapter.properties["connection_limit"].description,
        "default": None, "required": False, "updatable": True, "minimum": 1,
        "maximum": 10_000, "max_length": None, "choices": [],
    }}
    assert listed["mysql"]["max_user_connections"] | {"description": ""} == {
        "kind": "integer", "description": "", "default": 0, "required": False,
        "updatable": True, "minimum": 0, "maximum": 10_000, "max_length": None, "choices": [],
    }
    assert listed["s3"]["versioning"]["kind"] == "boolean"
    assert listed["s3"]["versioning"]["default"] is False
    assert listed["mongo"] == {}


def test_the_openapi_schema_describes_the_published_properties(make_client):
    schema = make_client().get("/api/schema/", HTTP_ACCEPT="application/json").json()

    provider = schema["components"]["schemas"]["Provider"]["properties"]["properties"]
    assert provider["additionalProperties"] == {"$ref": "#/components/schemas/ResourceProperty"}
    assert set(schema["components"]["schemas"]["ResourceProperty"]["properties"]) == {
        "kind", "description", "default", "required", "updatable", "minimum", "maximum",
        "max_length", "choices"}
