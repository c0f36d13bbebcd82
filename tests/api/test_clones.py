"""CLONE, and RESTORE into another resource, through the API on the real servers (the
scram PostgreSQL cluster and the main PostgreSQL server, MariaDB): the copy holds the
data, belongs to its own owner, and reaches nothing of the source."""

from __future__ import annotations

import psycopg
import pytest

from audit.models import AuditEntry
from resourcemanager.backups.models import Backup, Clone, Restore
from resourcemanager.outbox.models import OutboxMessage
from resourcemanager.resources.models import Resource
from resourcemanager.scopes.models import ScopeQuota
from tests.api.test_backups import (
    MYSQL_OBJECTS,
    assert_mysql_objects_work,
    completed_backup,
    mysql_login,
)
from tests.api.test_credentials import TEAM_A, TEAM_B, issue, pg_login, ready_resource
from tests.support.backup_store import backup_bucket  # noqa: F401 (fixture bucket)


def clone(client, resource: dict, scope_path: str = TEAM_A, **body):
    return client.post(f"{scope_path}/{resource['id']}/clone", body, format="json")


def owner_of(client, resource_id: str) -> dict:
    answer = client.post(f"{TEAM_A}/{resource_id}/reveal", format="json")
    assert answer.status_code == 200, answer.json()
    return answer.json()["credentials"]


def with_orders(owner: dict) -> None:
    with pg_login(owner) as conn:
        conn.execute("CREATE TABLE orders (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO orders SELECT n, 'parcel ' || n FROM generate_series(1, 300) n")
        conn.execute("CREATE VIEW recent AS SELECT * FROM orders WHERE id > 290")


@pytest.mark.parametrize("target", ["pg-scram", "pg"])
def test_a_postgresql_clone_holds_the_data_and_its_own_credential_reaches_only_it(
    make_client, scram_provider, pg_provider, target
):
    client = make_client(team_a="RESOURCE_ADMIN")
    source = ready_resource(client, "pg-scram")
    with_orders(source["credentials"])

    answer = clone(client, source, name="orders-copy", provider=target)

    assert answer.status_code == 202, answer.json()
    made = answer.json()
    assert made["status"] == "completed", made
    assert made["source"] == source["id"] and made["copied"] > 0
    copy = Resource.objects.get(pk=made["resource"])
    assert (copy.name, copy.status, copy.provider.key) == ("orders-copy", "ready", target)
    owner = owner_of(client, made["resource"])
    assert owner["database"] != source["credentials"]["database"]
    reader = issue(client, {"id": made["resource"]}, holder="reports",
                   access="read-only").json()["credentials"]
    with pg_login(reader) as conn:
        assert conn.execute("SELECT count(*), max(note) FROM orders").fetchone() == (
            300, "parcel 99")
        assert conn.execute("SELECT count(*) FROM recent").fetchone() == (10,)
    with pg_login(owner) as conn:
        assert conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'orders'"
                            ).fetchone() == (copy.backend_name,)
        conn.execute("DELETE FROM orders")
    with pg_login(source["credentials"]) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (300,)
    if target == "pg-scram":  # the same server: the copy's login is refused the source
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            pg_login({**owner, "database": source["credentials"]["database"]})
    assert list(AuditEntry.objects.filter(action="resource.clone").order_by("id")
                .values_list("outcome", flat=True)) == ["accepted", "success"]
    assert OutboxMessage.objects.filter(name="resource.cloned",
                                        resource_id=copy.pk).count() == 1
    listed = client.get(f"{TEAM_A}/{source['id']}/clones").json()["results"]
    assert [each["id"] for each in listed] == [made["id"]]
    assert client.get(f"{TEAM_A}/{made['resource']}/clones/{made['id']}").json()[
        "status"] == "completed"


def test_a_mysql_clone_holds_the_data_and_its_routines_run_as_its_own_owner(
    make_client, mysql_provider
):
    client = make_client(team_a="ADMIN")
    source = ready_resource(client, "mysql")
    with mysql_login(source["credentials"]) as conn, conn.cursor() as cur:
        for statement in MYSQL_OBJECTS:
            cur.execute(statement)

    made = clone(client, source, name="orders-copy").json()

    assert made["status"] == "completed", made
    owner = owner_of(client, made["resource"])
    assert owner["username"] != source["credentials"]["username"]
    with mysql_login(owner) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, note FROM orders ORDER BY id")
        assert cur.fetchall() == ((1, "parcel one"), (2, "parcel two"))
    assert_mysql_objects_work(owner)


def test_a_mysql_backup_restored_into_another_resource_runs_as_its_owner(
    make_client, mysql_provider, bucket
):
    client = make_client(team_a="RESOURCE_ADMIN")
    source = ready_resource(client, "mysql")
    with mysql_login(source["credentials"]) as conn, conn.cursor() as cur:
        for statement in MYSQL_OBJECTS:
            cur.execute(statement)
    backup = completed_backup(client, source)
    target = client.post(TEAM_A, {"provider": "mysql", "name": "ledger"}, format="json").json()

    answer = client.post(f"{TEAM_A}/{target['id']}/restore",
                         {"backup": backup["id"], "confirm": "ledger"}, format="json")

    assert answer.json()["status"] == "completed", answer.json()
    assert_mysql_objects_work(target["credentials"])


def test_a_failed_clone_deletes_the_resource_it_made_and_leaves_nothing_behind(
    make_client, scram_provider
):
    client = make_client(team_a="RESOURCE_ADMIN")
    source = ready_resource(client, "pg-scram")
    stored = Resource.objects.get()
    wrong = "wrong-password-of-the-source"
    stored.credentials = {**stored.credentials, "password": wrong}
    stored.save()

    made = clone(client, source, name="orders-copy").json()

    assert made["status"] == "failed" and made["status_message"]
    assert "password authentication failed" in Clone.objects.get().status_message
    copy = Resource.objects.get(pk=made["resource"])
    assert copy.status == "deleted" and copy.credentials is None
    adapter = scram_provider.adapter()
    assert copy.backend_name not in adapter.inventory(adapter.name_prefix).names
    assert Resource.objects.get(pk=source["id"]).status == "ready"
    assert Resource.objects.get(pk=source["id"]).lease_id is None
    assert wrong not in str(made)
    assert not AuditEntry.objects.filter(message__contains=wrong).exists()
    assert AuditEntry.objects.filter(action="resource.clone", outcome="failure").exists()
    again = clone(client, source, name="orders-copy")  # the name is free again
    assert again.status_code == 202


def test_a_clone_is_refused_over_quota_for_another_class_and_for_a_taken_name(
    make_client, scram_provider, mysql_provider
):
    client = make_client(team_a="RESOURCE_ADMIN")
    source = ready_resource(client, "pg-scram")

    def refused(**body) -> tuple[int, str]:
        answer = clone(client, source, **body)
        return answer.status_code, answer.json().get("code")

    assert refused(name="orders-copy", provider="mysql") == (400, "incompatible_provider")
    assert refused(name="orders") == (409, "name_taken")
    assert refused(name="bad name!") == (400, "invalid_name")
    assert refused(name="copy", provider="nowhere") == (400, "unknown_provider")
    ScopeQuota.objects.create(scope="team-a", max_resources=1)
    assert refused(name="orders-copy") == (409, "quota_exceeded")
    assert not Clone.objects.exists()
    assert Resource.objects.count() == 1


def test_a_backup_is_restored_into_another_resource_on_another_server(
    make_client, scram_provider, pg_provider, bucket
):
    client = make_client(team_a="RESOURCE_ADMIN")
    source = ready_resource(client, "pg-scram")
    with_orders(source["credentials"])
    backup = completed_backup(client, source)
    target = client.post(TEAM_A, {"provider": "pg", "name": "ledger"}, format="json").json()
    reader = issue(client, target, holder="reports", access="read-only").json()["credentials"]

    answer = client.post(f"{TEAM_A}/{target['id']}/restore",
                         {"backup": backup["id"], "confirm": "ledger"}, format="json")

    assert answer.status_code == 202, answer.json()
    assert answer.json()["status"] == "completed", answer.json()
    with pg_login(reader) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (300,)
    with pg_login(target["credentials"]) as conn:
        assert conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'orders'"
                            ).fetchone() == (target["credentials"]["username"],)
    assert AuditEntry.objects.filter(
        action="resource.restore", outcome="accepted",
        message__contains=f"of resource {source['id']}").exists()


def test_another_scopes_backup_is_unknown_and_a_restore_waits_for_a_running_one(
    make_client, scram_provider, bucket
):
    alpha = make_client(team_a="RESOURCE_ADMIN", team_b="RESOURCE_ADMIN")
    resource = ready_resource(alpha, "pg-scram")
    bravo = alpha.post(TEAM_B, {"provider": "pg-scram", "name": "orders"}, format="json").json()
    foreign = alpha.post(f"{TEAM_B}/{bravo['id']}/backup", format="json").json()
    assert foreign["status"] == "completed", foreign

    answer = alpha.post(f"{TEAM_A}/{resource['id']}/restore",
                        {"backup": foreign["id"], "confirm": "orders"}, format="json")

    assert answer.status_code == 404
    assert answer.json()["message"] == "no such backup in this scope"
    own = completed_backup(alpha, resource)
    Restore.objects.create(scope="team-a", resource_id=resource["id"], backup_id=own["id"],
                           created_by="someone")
    other = completed_backup(alpha, resource)
    busy = alpha.post(f"{TEAM_A}/{resource['id']}/restore",
                      {"backup": other["id"], "confirm": "orders"}, format="json")
    assert busy.status_code == 409 and busy.json()["code"] == "operation_running"


@pytest.mark.parametrize(("role", "allowed"), [
    ("ADMIN", True), ("RESOURCE_ADMIN", True), ("CONSUMER_ADMIN", False), ("USER", False)])
def test_only_admins_of_the_scope_clone_restore_and_clean_up(
    make_client, scram_provider, bucket, role, allowed
):
    admin = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(admin, "pg-scram")
    backup = completed_backup(admin, resource)
    caller = make_client(team_a=role)
    stranger = make_client(team_b="ADMIN")
    requests = {
        "clone": {"name": "orders-copy"},
        "restore": {"backup": backup["id"], "confirm": "orders"},
        "cleanup": {"confirm": "orders"},
    }

    for action, body in requests.items():
        answer = caller.post(f"{TEAM_A}/{resource['id']}/{action}", body, format="json")
        assert answer.status_code == (202 if allowed else 403), (action, answer.json())
        if allowed:
            assert answer.json()["status"] == "completed", (action, answer.json())
        foreign = stranger.post(f"{TEAM_B}/{resource['id']}/{action}", body, format="json")
        assert foreign.status_code == 404, action
        assert stranger.post(f"{TEAM_A}/{resource['id']}/{action}", body,
                             format="json").status_code == 403
    for listing in ("clones", "cleanups"):
        assert caller.get(f"{TEAM_A}/{resource['id']}/{listing}").status_code == 200
        assert stranger.get(f"{TEAM_B}/{resource['id']}/{listing}").status_code == 404
    assert Resource.objects.count() == (2 if allowed else 1)
    assert Clone.objects.count() == (1 if allowed else 0)


def test_a_new_resource_made_from_a_backup_holds_its_data_or_goes_if_it_cannot(
    make_client, scram_provider, pg_provider, mysql_provider, bucket
):
    client = make_client(team_a="RESOURCE_ADMIN")
    source = ready_resource(client, "pg-scram")
    with_orders(source["credentials"])
    backup = completed_backup(client, source)

    created = client.post(TEAM_A, {"provider": "pg", "name": "ledger",
                                   "from_backup": backup["id"]}, format="json")

    assert created.status_code == 201, created.json()
    made = created.json()
    assert made["status"] == "ready"
    with pg_login(made["credentials"]) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (300,)
        assert conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'orders'"
                            ).fetchone() == (made["credentials"]["username"],)
    [run] = client.get(f"{TEAM_A}/{made['id']}/clones").json()["results"]
    assert run["status"] == "completed" and run["source"] == source["id"]

    def refused(**body) -> tuple[int, str]:
        answer = client.post(TEAM_A, {"provider": "pg", "name": "other"} | body, format="json")
        return answer.status_code, answer.json().get("code")

    assert refused(provider="mysql", from_backup=backup["id"]) == (409, "incompatible_backup")
    assert refused(from_backup="00000000-0000-0000-0000-000000000000") == (404, "not_found")
    assert Resource.objects.filter(name="other").count() == 0

    bucket.write(Backup.objects.get().object_key, b"damaged")
    broken = client.post(TEAM_A, {"provider": "pg", "name": "broken",
                                  "from_backup": backup["id"]}, format="json")

    assert broken.status_code == 201
    assert broken.json()["status"] == "deleted"
    run = Clone.objects.get(resource_id=broken.json()["id"])
    assert run.status == "failed" and "checksum" in run.status_message
    adapter = pg_provider.adapter()
    assert Resource.objects.get(pk=run.resource_id).backend_name not in (
        adapter.inventory(adapter.name_prefix).names)


def test_a_clone_asked_again_while_under_way_is_that_one(make_client, scram_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    source = ready_resource(client, "pg-scram")
    source_row = Resource.objects.get()
    waiting = Resource.objects.create(
        scope="team-a", provider=source_row.provider, type="sql", name="orders-copy",
        backend_name=f"{source_row.backend_name}x")
    under_way = Clone.objects.create(scope="team-a", resource=waiting, source=source_row,
                                     created_by="someone")

    again = clone(client, source, name="orders-copy")

    assert again.status_code == 202 and again.json()["id"] == str(under_way.pk)
    other = clone(client, source, name="another-copy")
    assert other.status_code == 409 and other.json()["code"] == "operation_running"
    assert Resource.objects.count() == 2 and Clone.objects.count() == 1
