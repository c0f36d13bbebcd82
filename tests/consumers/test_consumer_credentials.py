"""Each consumer gets a login of its own on each resource it is given, on the real servers:
read-only by default, revoked when the consumer or the match goes, replaced without a
gap when its level changes."""

from __future__ import annotations

import psycopg
import pymysql
import pytest
from botocore.exceptions import ClientError

from audit.models import AuditEntry
from consumers.models import Consumer
from providers.adapters.base import Credentials
from resourcemanager.resources.models import Credential
from tests.consumers.conftest import TEAM_A, add_consumer, add_webhook, create_resource
from tests.providers.s3_support import can_list, tenant
from tests.support.credentials import issued_credentials
from tests.support.toolfakes import TOOL_PASSWORD, FakeSQLPad


def pg_login(fields: dict) -> psycopg.Connection:
    return psycopg.connect(host=fields["host"], port=fields["port"], user=fields["username"],
                           password=fields["password"], dbname=fields["database"],
                           autocommit=True, connect_timeout=5)


def own_logins(consumer: dict) -> list[Credential]:
    """The consumer's credentials, oldest first."""
    return list(Credential.objects.filter(holder=f"consumer:{consumer['id']}")
                .order_by("created_at"))


def sent_credentials(server, index: int = -1) -> dict:
    return server.requests[index].json()["credentials"]


def test_a_bi_tool_reads_with_a_login_of_its_own_and_cannot_change_the_schema(
    owner, scram_provider
):
    resource = create_resource(owner, provider="pg-scram")
    with pg_login(resource["credentials"]) as conn:
        conn.execute("CREATE TABLE sales AS SELECT 42 AS amount")

    with FakeSQLPad() as sqlpad:
        consumer = add_consumer(owner, builder="sqlpad", name="sqlpad", properties={
            "url": sqlpad.url, "email": "admin@example.com", "password": TOOL_PASSWORD})
        [connection] = sqlpad.items.values()

    given = connection["data"]
    [own] = own_logins(consumer)
    assert (own.access, own.status, own.issued_by) == ("read-only", "active", "system")
    assert given["username"] == own.login != resource["credentials"]["username"]
    with pg_login({**resource["credentials"], **given}) as reader:
        assert reader.execute("SELECT amount FROM sales").fetchone() == (42,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("CREATE TABLE mine (a int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("DROP TABLE sales")


def test_a_mariadb_resource_is_read_through_a_login_of_the_consumer_s_own(
    owner, mysql_provider, webhook_server
):
    add_webhook(owner, webhook_server, include_credentials=True)
    resource = create_resource(owner, provider="mysql")
    owners, given = resource["credentials"], sent_credentials(webhook_server)
    with pymysql.connect(host=owners["host"], port=owners["port"], user=owners["username"],
                         password=owners["password"], database=owners["database"]) as conn:
        conn.cursor().execute("CREATE TABLE items AS SELECT 7 AS id")

    assert given["username"] != owners["username"]
    with pymysql.connect(host=given["host"], port=given["port"], user=given["username"],
                         password=given["password"], database=given["database"]) as conn, \
            conn.cursor() as cur:
        cur.execute("SELECT id FROM items")
        assert cur.fetchone() == (7,)
        with pytest.raises(pymysql.err.OperationalError):
            cur.execute("CREATE TABLE mine (a int)")


def test_a_bucket_is_read_with_a_key_of_the_consumer_s_own(
    owner, s3_provider, moto_s3, webhook_server
):
    consumer = add_webhook(owner, webhook_server, include_credentials=True)
    resource = create_resource(owner, provider="s3")
    owners = Credentials.from_dict(resource["credentials"])
    key = Credentials.from_dict(sent_credentials(webhook_server))
    tenant(moto_s3, owners).put_object(Bucket=owners.database, Key="a", Body=b"x")

    assert key.username != owners.username and key.database == owners.database
    reader = tenant(moto_s3, key)
    assert reader.get_object(Bucket=key.database, Key="a")["Body"].read() == b"x"
    with pytest.raises(ClientError):
        reader.put_object(Bucket=key.database, Key="b", Body=b"y")
    owner.delete(f"{TEAM_A}/consumers/{consumer['id']}")
    assert not can_list(moto_s3, key)


def test_a_mongodb_resource_is_given_a_user_of_the_consumer_s_own(
    owner, fake_mongod, mongo_provider, webhook_server
):
    """On the wire-level mongod of the tests: the user is made with the read role."""
    consumer = add_webhook(owner, webhook_server, include_credentials=True)

    resource = create_resource(owner, provider="mongo")

    [own] = own_logins(consumer)
    given = sent_credentials(webhook_server)
    assert (own.access, own.status) == ("read-only", "active")
    assert given["username"] == own.login != resource["credentials"]["username"]
    assert given["database"] == resource["credentials"]["database"]
    roles = fake_mongod.users[(given["database"], given["username"])]["roles"]
    assert [role["role"] for role in roles] == ["read"]


def test_deleting_the_consumer_revokes_its_login(owner, scram_provider, webhook_server):
    consumer = add_webhook(owner, webhook_server, include_credentials=True)
    create_resource(owner, provider="pg-scram")
    given = sent_credentials(webhook_server)
    pg_login(given).close()

    assert owner.delete(f"{TEAM_A}/consumers/{consumer['id']}").status_code == 204

    assert [login.status for login in own_logins(consumer)] == ["revoked"]
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        pg_login(given)
    entry = AuditEntry.objects.get(action="consumer.delete")
    assert entry.message == "1 login(s) revoked"


def test_retagging_the_consumer_revokes_the_logins_it_no_longer_matches(
    owner, scram_provider, webhook_server
):
    consumer = add_webhook(owner, webhook_server, include_credentials=True,
                           tags=["sales", "stock"])
    create_resource(owner, "orders", provider="pg-scram", tags=["sales"])
    create_resource(owner, "stock", provider="pg-scram", tags=["stock"])
    orders, stock = (sent_credentials(webhook_server, i) for i in (0, 1))

    changed = owner.patch(f"{TEAM_A}/consumers/{consumer['id']}", {"tags": ["sales"]},
                          format="json")

    assert changed.status_code == 200
    assert sorted(login.status for login in own_logins(consumer)) == ["active", "revoked"]
    pg_login(orders).close()
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        pg_login(stock)


def test_a_resource_retagged_away_from_the_consumer_revokes_its_login(
    owner, scram_provider, webhook_server
):
    consumer = add_webhook(owner, webhook_server, include_credentials=True, tags=["sales"])
    resource = create_resource(owner, provider="pg-scram", tags=["sales"])
    given = sent_credentials(webhook_server)

    owner.patch(f"{TEAM_A}/resources/{resource['id']}", {"tags": ["stock"]}, format="json")

    assert [login.status for login in own_logins(consumer)] == ["revoked"]
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        pg_login(given)


def test_disabling_revokes_and_enabling_again_issues_a_new_login(
    owner, scram_provider, webhook_server
):
    consumer = add_webhook(owner, webhook_server, include_credentials=True)
    create_resource(owner, provider="pg-scram")
    url = f"{TEAM_A}/consumers/{consumer['id']}"
    first = sent_credentials(webhook_server)

    owner.patch(url, {"enabled": False}, format="json")
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        pg_login(first)
    owner.patch(url, {"enabled": True}, format="json")

    second = sent_credentials(webhook_server)
    assert [login.status for login in own_logins(consumer)] == ["revoked", "active"]
    assert second["username"] != first["username"]
    pg_login(second).close()


def test_a_new_access_level_replaces_the_login_once_the_tool_holds_it(
    owner, scram_provider, webhook_server
):
    consumer = add_webhook(owner, webhook_server, include_credentials=True)
    create_resource(owner, provider="pg-scram")
    reader = sent_credentials(webhook_server)

    changed = owner.patch(f"{TEAM_A}/consumers/{consumer['id']}",
                          {"credential_access": "owner"}, format="json")

    assert changed.json()["credential_access"] == "owner"
    old, new = own_logins(consumer)
    assert (old.access, old.status, new.access, new.status) == (
        "read-only", "revoked", "owner", "active")
    writer = sent_credentials(webhook_server)
    assert writer["username"] == new.login
    with pg_login(writer) as conn:
        conn.execute("CREATE TABLE mine (a int)")
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        pg_login(reader)


def test_a_webhook_without_credentials_and_a_log_consumer_get_no_login(
    owner, pg_provider, webhook_server
):
    add_webhook(owner, webhook_server)
    add_consumer(owner, builder="log", name="log")

    create_resource(owner)

    assert "credentials" not in webhook_server.requests[0].json()
    assert not issued_credentials().exists()


def test_turning_include_credentials_off_revokes_the_login(
    owner, pg_provider, webhook_server
):
    consumer = add_webhook(owner, webhook_server, include_credentials=True)
    create_resource(owner)

    owner.patch(f"{TEAM_A}/consumers/{consumer['id']}",
                {"properties": {"include_credentials": False}}, format="json")

    assert [login.status for login in own_logins(consumer)] == ["revoked"]
    assert "credentials" not in webhook_server.requests[-1].json()


def test_resources_without_logins_of_their_own_get_the_resource_s_credentials(
    owner, memory_provider, webhook_server
):
    """The memory provider, like CockroachDB and YugabyteDB, offers no logins per holder."""
    add_webhook(owner, webhook_server, include_credentials=True)

    resource = create_resource(owner, provider="mem")

    assert sent_credentials(webhook_server) == resource["credentials"]
    assert not issued_credentials().exists()


def test_an_unmanaged_resource_is_delivered_with_its_registered_credentials(
    owner, pg_provider, webhook_server
):
    add_webhook(owner, webhook_server, include_credentials=True)
    uri = "postgresql://reporting:s3cret-Canary@db.example.com:5432/warehouse"

    added = owner.post(f"{TEAM_A}/resources/add",
                       {"provider": "pg", "name": "warehouse", "uri": uri}, format="json")

    assert added.status_code == 201, added.json()
    assert sent_credentials(webhook_server)["username"] == "reporting"
    assert not issued_credentials().exists()
    assert Consumer.objects.get().credential_access == "read-only"


def test_a_rotated_login_reaches_its_consumer_alone_before_the_replaced_one_goes(
    owner, scram_provider, webhook_server
):
    add_webhook(owner, webhook_server, name="rotated", include_credentials=True)
    add_webhook(owner, webhook_server, name="bystander")
    resource = create_resource(owner, provider="pg-scram")
    [before] = [request.json()["credentials"] for request in webhook_server.requests
                if "credentials" in request.json()]
    [own] = Credential.objects.filter(holder__startswith="consumer:")
    delivered = len(webhook_server.requests)

    rotated = owner.post(f"/api/c/team-a/resources/{resource['id']}/credentials/{own.pk}"
                         "/rotate", {"grace": 600}, format="json")

    assert rotated.status_code == 202, rotated.json()
    [told] = webhook_server.requests[delivered:]  # the rotated consumer only
    assert told.json()["event"] == "resource.updated"
    after = told.json()["credentials"]
    assert after["username"] == rotated.json()["username"] != before["username"]
    pg_login(after).close()
    pg_login(before).close()  # still valid: the tool had the new one first
