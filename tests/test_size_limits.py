"""Size limits enforced by the backend (resourcemanager.resources.freezing): the CHECK sweep
measures each resource on the real server, freezes what is over a limit (the tenant's
logins still read, no longer write; open sessions end), and lifts the freeze once back
under, with hysteresis."""

from __future__ import annotations

import json

import psycopg
import pymysql
import pytest
from botocore.exceptions import ClientError
from psycopg import sql

from audit.models import AuditEntry
from providers.adapters.s3_quotas import FREEZE_SID
from resourcemanager.backups import runs
from resourcemanager.backups.models import Backup, Restore, RunStatus
from resourcemanager.outbox.models import OutboxMessage
from resourcemanager.resources import freezing, sweeps
from resourcemanager.resources.models import Resource
from resourcemanager.scopes.models import ScopeQuota
from tests.api.test_credentials import TEAM_A, issue, owner_id, pg_login, ready_resource
from tests.support.backup_store import backup_bucket  # noqa: F401 (fixture bucket)

QUOTA_A = "/api/c/team-a/quota"


def limit(operator, resource: dict, max_bytes: int | None) -> None:
    answer = operator.patch(f"{TEAM_A}/{resource['id']}/quota", {"max_bytes": max_bytes},
                            format="json")
    assert answer.status_code == 200, answer.json()


def frozen_state(client, resource: dict) -> tuple[bool, str]:
    shown = client.get(f"{TEAM_A}/{resource['id']}").json()
    return shown["frozen"], shown["frozen_reason"]


def announced(resource: dict) -> list[str]:
    return list(OutboxMessage.objects.filter(
        resource_id=resource["id"], name__in=["resource.frozen", "resource.unfrozen"])
        .order_by("id").values_list("name", flat=True))


def rotate(client, resource: dict, credential_id: str) -> dict:
    rotated = client.post(f"{TEAM_A}/{resource['id']}/credentials/{credential_id}/rotate",
                          {"grace": 0}, format="json")
    assert rotated.status_code == 202, rotated.json()
    return rotated.json()["credentials"]


def mysql_login(fields: dict) -> pymysql.connections.Connection:
    return pymysql.connect(host=fields["host"], port=fields["port"], user=fields["username"],
                           password=fields["password"], database=fields["database"],
                           autocommit=True)


def test_a_postgresql_resource_over_its_limit_is_frozen_and_lifted_once_under(
        make_client, scram_provider):
    client, operator = make_client(team_a="RESOURCE_ADMIN"), make_client(operator=True)
    resource = ready_resource(client, "pg-scram")
    owner = resource["credentials"]
    issued = issue(client, resource, holder="app", access="read-write").json()
    writer = issued["credentials"]
    with pg_login(owner) as conn:
        conn.execute("CREATE TABLE items AS SELECT 1 AS id")
    limit(operator, resource, 1024)
    with pg_login(writer) as open_session:
        report = sweeps.sweep()
        with pytest.raises(psycopg.OperationalError):  # ended: new sessions see the change
            open_session.execute("SELECT 1")

    assert report.limits.frozen == [resource["id"]]
    stored = Resource.objects.get(pk=resource["id"])
    assert stored.size > 1024 and stored.size_measured_at is not None
    assert frozen_state(client, resource) == (
        True, f"holds {stored.size} bytes, over its limit of 1024 (max_bytes)")
    for login in (owner, writer):
        with pg_login(login) as conn:
            assert conn.execute("SELECT count(*) FROM items").fetchone() == (1,)
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                conn.execute("INSERT INTO items VALUES (2)")
    late = issue(client, resource, holder="late", access="read-write").json()["credentials"]
    writer, owner = (rotate(client, resource, each) for each in (issued["id"], owner_id(resource)))
    for login in (late, writer, owner):  # issued or rotated while frozen: frozen
        with pg_login(login) as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO items VALUES (3)")
    audited = AuditEntry.objects.get(action="resource.freeze", target_id=resource["id"])
    assert (audited.outcome, audited.scope) == ("success", "team-a")

    limit(operator, resource, stored.size + 1)  # under, but not under 90 % of it
    with pg_login(late) as kept:
        assert sweeps.sweep().limits.frozen == []
        assert kept.execute("SELECT 1").fetchone() == (1,)  # frozen already: left alone
    assert frozen_state(client, resource)[0] is True

    limit(operator, resource, None)
    assert sweeps.sweep().limits.unfrozen == [resource["id"]]

    assert frozen_state(client, resource) == (False, "")
    for login in (owner, writer, late):
        with pg_login(login) as conn:
            conn.execute("INSERT INTO items VALUES (4)")
    assert announced(resource) == ["resource.frozen", "resource.unfrozen"]
    assert AuditEntry.objects.filter(action="resource.unfreeze", outcome="success").count() == 1


def test_a_mysql_scope_over_its_byte_total_is_frozen_until_the_tenant_drops_data(
        make_client, mysql_provider):
    client, operator = make_client(team_a="RESOURCE_ADMIN"), make_client(operator=True)
    resource = ready_resource(client, "mysql")
    owner = resource["credentials"]
    writer = issue(client, resource, holder="app", access="read-write").json()["credentials"]
    with mysql_login(owner) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE items (id int PRIMARY KEY, note text)")
        cur.execute("INSERT INTO items VALUES (1, 'one'), (2, 'two')")
    assert operator.patch(QUOTA_A, {"max_bytes": 1000}, format="json").status_code == 200
    with mysql_login(writer) as open_session:
        assert sweeps.sweep().limits.frozen == [resource["id"]]
        with pytest.raises(pymysql.MySQLError), open_session.cursor() as cur:
            cur.execute("SELECT 1")

    frozen, reason = frozen_state(client, resource)
    assert frozen and reason.startswith("scope team-a holds ")
    for login in (owner, writer):
        with mysql_login(login) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM items")
            assert cur.fetchone() == (2,)
            with pytest.raises(pymysql.err.OperationalError) as refused:
                cur.execute("INSERT INTO items VALUES (3, 'three')")
            assert refused.value.args[0] == 1142  # INSERT command denied
    with mysql_login(writer) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM items WHERE id = 2")  # deleting stays allowed
    usage = client.get(QUOTA_A).json()["usage"]
    assert usage["bytes"] > 1000 and usage["frozen"] == 1
    for deep in (False, True):  # the catalog, and the full CHECK, take a frozen owner's
        again = sweeps.sweep(deep=deep)  # grants as in order: nothing to repair
        assert (again.as_dict()["repaired"], again.failing, again.limits.frozen) == (0, [], [])
    checked = Resource.objects.get(pk=resource["id"])
    assert (checked.last_check_ok, checked.last_check_message) == (
        True, "database, login and privileges are in order")

    with mysql_login(owner) as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE items")  # back under, by the tenant itself
    assert sweeps.sweep().limits.unfrozen == [resource["id"]]

    with mysql_login(owner) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE again (id int)")
    with mysql_login(writer) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO again VALUES (1)")
    assert announced(resource) == ["resource.frozen", "resource.unfrozen"]


def test_an_s3_bucket_over_its_limit_is_denied_puts_until_objects_are_deleted(
        make_client, s3_provider, moto_s3):
    client, operator = make_client(team_a="RESOURCE_ADMIN"), make_client(operator=True)
    resource = ready_resource(client, "s3")
    fields = resource["credentials"]
    bucket = fields["database"]
    tenant = moto_s3.client("s3", fields["username"], fields["password"])
    tenant.put_object(Bucket=bucket, Key="a.txt", Body=b"x" * 100)
    tenant.put_object(Bucket=bucket, Key="b.txt", Body=b"y" * 50)
    limit(operator, resource, 120)

    assert sweeps.sweep().limits.frozen == [resource["id"]]

    stored = Resource.objects.get(pk=resource["id"])
    assert (stored.size, stored.size_objects, stored.frozen) == (150, 2, True)
    assert client.get(QUOTA_A).json()["usage"] | {"operations": 0} == {
        "resources": 1, "credentials": 0, "bytes": 150, "objects": 2, "frozen": 1,
        "operations": 0}
    policy = json.loads(moto_s3.client("s3").get_bucket_policy(Bucket=bucket)["Policy"])
    assert [each["Sid"] for each in policy["Statement"]] == [FREEZE_SID]
    [statement] = policy["Statement"]
    assert (statement["Effect"], statement["Action"]) == ("Deny", "s3:PutObject")
    assert tenant.get_object(Bucket=bucket, Key="a.txt")["Body"].read() == b"x" * 100
    with pytest.raises(ClientError) as refused:  # moto enforces bucket policies, as S3
        tenant.put_object(Bucket=bucket, Key="c.txt", Body=b"z")
    assert refused.value.response["Error"]["Code"] in ("AccessDenied", "403")
    tenant.delete_object(Bucket=bucket, Key="a.txt")

    assert sweeps.sweep().limits.unfrozen == [resource["id"]]

    with pytest.raises(ClientError):
        moto_s3.client("s3").get_bucket_policy(Bucket=bucket)
    tenant.put_object(Bucket=bucket, Key="c.txt", Body=b"z")
    assert Resource.objects.get(pk=resource["id"]).frozen is False


def test_sizes_the_admin_may_not_read_are_reported_and_the_check_still_passes(
        make_client, scram_provider, scram_cluster):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")
    revoke = sql.SQL("REVOKE pg_read_all_stats FROM {}").format(
        sql.Identifier(scram_cluster.admin_user))
    with scram_cluster.superuser_connect() as su:
        su.execute(revoke)
        try:
            report = sweeps.sweep()
        finally:
            su.execute(sql.SQL("GRANT pg_read_all_stats TO {}").format(
                sql.Identifier(scram_cluster.admin_user)))

    [instance] = report.instances
    assert "permission denied" in instance.size_error
    assert (instance.ok, report.failing) == (1, [])
    assert Resource.objects.get(pk=resource["id"]).size is None
    summary = AuditEntry.objects.get(action="provider.check_sweep")
    assert "sizes not measured: " in summary.message
    assert sweeps.sweep().instances[0].size_error == ""
    assert Resource.objects.get(pk=resource["id"]).size > 0


@pytest.mark.parametrize(("size", "own", "total", "scope_limit", "lifted"), [
    (89, 100, 89, None, True), (90, 100, 90, None, False), (10, None, 899, 1000, True),
    (10, None, 900, 1000, False), (10, 100, 10, 1000, True),
])
def test_a_freeze_is_lifted_below_the_share_of_every_limit(
        settings, size, own, total, scope_limit, lifted):
    settings.RM_QUOTA_UNFREEZE_RATIO = 0.9
    resource = Resource(scope="team-a", size=size, max_bytes=own, frozen=True)

    assert freezing.under_limit(resource, ScopeQuota(max_bytes=scope_limit), total) is lifted
    assert freezing.over_limit(resource, ScopeQuota(max_bytes=scope_limit), total) == ""


def test_a_frozen_resource_is_not_restored_into_and_keeps_every_object(
        make_client, mysql_provider, bucket):
    """A frozen MySQL owner keeps DROP but loses CREATE VIEW: a restore would drop the view
    and fail to make it again. It is refused when asked, and by its run when the freeze
    came after the request, before anything is dropped."""
    client, operator = make_client(team_a="RESOURCE_ADMIN"), make_client(operator=True)
    resource = ready_resource(client, "mysql")
    owner = resource["credentials"]
    with mysql_login(owner) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE items (id int PRIMARY KEY, note text)")
        cur.execute("INSERT INTO items VALUES (1, 'one'), (2, 'two')")
        cur.execute("CREATE VIEW first_item AS SELECT note FROM items WHERE id = 1")
    backup = client.post(f"{TEAM_A}/{resource['id']}/backup", format="json").json()
    assert backup["status"] == "completed", backup
    limit(operator, resource, 1)
    assert sweeps.sweep().limits.frozen == [resource["id"]]

    restored = client.post(f"{TEAM_A}/{resource['id']}/restore",
                           {"backup": backup["id"], "confirm": "orders"}, format="json")
    templated = client.post(f"{TEAM_A}/{resource['id']}/cleanup",
                            {"confirm": "orders", "template": backup["id"]}, format="json")
    late = Restore.objects.create(scope="team-a", resource_id=resource["id"],
                                  backup=Backup.objects.get(pk=backup["id"]), created_by="ana")
    runs.run_data_operation(resource["id"], str(late.pk), "restore", actor="ana")

    for refused in (restored, templated):
        assert (refused.status_code, refused.json()["code"]) == (409, "frozen")
        assert "frozen" in refused.json()["message"]
    late.refresh_from_db()
    assert late.status == RunStatus.FAILED
    assert "frozen" in late.status_message and "nothing was restored" in late.status_message
    with mysql_login(owner) as conn, conn.cursor() as cur:
        cur.execute("SELECT note FROM first_item")
        assert cur.fetchall() == (("one",),)
