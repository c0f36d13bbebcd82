"""The owner's own login rotates like any credential, without downtime, on the real
servers (PostgreSQL through scram: passwords are really checked; MariaDB): a new
owner-level login takes over the resource's credentials, the replaced one keeps working
for the grace, then may no longer log in, and CHECK verifies the owner through the new
one. The owner's credential is listed, and never revoked on its own."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pymysql
import pytest
from django.utils import timezone

from audit.models import AuditEntry
from providers.adapters.base import Credentials
from resourcemanager.backups.models import Backup
from resourcemanager.backups.sealing import unseal
from resourcemanager.resources import credential_sweeps
from resourcemanager.resources.models import OWNER_HOLDER, Credential
from tests.api.test_backups import completed_backup
from tests.api.test_credential_lifecycle import past_grace, refused
from tests.api.test_credentials import TEAM_A, issue, pg_login, ready_resource
from tests.conftest import MYSQL_HOST, MYSQL_PASSWORD, MYSQL_PORT, MYSQL_USER
from tests.providers.s3_support import can_list, tenant
from tests.support.backup_store import backup_bucket  # noqa: F401 (fixture bucket)


def owner_credential(client, resource: dict) -> dict:
    listed = client.get(f"{TEAM_A}/{resource['id']}/credentials").json()["results"]
    return next(each for each in listed if each["holder"] == OWNER_HOLDER)


def rotate_owner(client, resource: dict, grace: int) -> dict:
    owner = owner_credential(client, resource)
    rotated = client.post(f"{TEAM_A}/{resource['id']}/credentials/{owner['id']}/rotate",
                          {"grace": grace}, format="json")
    assert rotated.status_code == 202, rotated.json()
    assert rotated.json()["status"] == "active"
    return rotated.json()


def revealed(client, resource: dict) -> dict:
    answer = client.post(f"{TEAM_A}/{resource['id']}/reveal")
    assert answer.status_code == 200, answer.json()
    return answer.json()["credentials"]


def checked(client, resource: dict, repair: bool = False) -> dict:
    answer = client.post(f"{TEAM_A}/{resource['id']}/check", {"repair": repair}, format="json")
    assert answer.status_code in (200, 202), answer.json()
    return client.get(f"{TEAM_A}/{resource['id']}").json()["last_check"]


def test_every_resource_lists_its_owner_credential_which_is_not_revoked_alone(
    make_client, scram_provider
):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")
    owner = owner_credential(client, resource)
    assert (owner["access"], owner["status"]) == ("owner", "active")
    assert "credentials" not in owner and "password" not in str(owner)

    refused_revoke = client.delete(f"{TEAM_A}/{resource['id']}/credentials/{owner['id']}")

    assert refused_revoke.status_code == 409, refused_revoke.json()
    assert refused_revoke.json()["code"] == "owner_credential"
    pg_login(revealed(client, resource)).close()


def test_the_owner_rotates_without_downtime_and_keeps_what_it_owns(
    make_client, scram_provider
):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")
    old = revealed(client, resource)
    with pg_login(old) as conn:
        conn.execute("CREATE TABLE early (note text)")
        conn.execute("INSERT INTO early VALUES ('kept')")
    session = pg_login(old)

    new = rotate_owner(client, resource, grace=600)["credentials"]

    assert new["username"] != old["username"] and new["password"] != old["password"]
    assert revealed(client, resource) == new
    with pg_login(new) as conn:  # reads, writes and changes the schema as the owner
        assert conn.execute("SELECT note FROM early").fetchall() == [("kept",)]
        conn.execute("CREATE TABLE later (id int)")
        assert conn.execute(
            "SELECT tableowner FROM pg_tables WHERE tablename = 'later'").fetchone() == (
            old["username"],)
    assert session.execute("SELECT 1").fetchone() == (1,)  # the grace is not over

    owner_id = owner_credential(client, resource)["id"]
    past_grace(owner_id)
    assert credential_sweeps.sweep_credentials() == 1

    assert refused(old)
    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")
    assert Credential.objects.get(pk=owner_id).retiring == []
    assert checked(client, resource)["ok"] is True
    with pg_login(new) as conn:
        conn.execute("DROP TABLE early")

    again = rotate_owner(client, resource, grace=0)["credentials"]  # a login replaces a login

    assert refused(new)
    with pg_login(again) as conn:
        assert conn.execute("SELECT count(*) FROM later").fetchone() == (0,)
    assert checked(client, resource)["ok"] is True


def test_check_repairs_the_login_that_took_over(make_client, scram_provider, scram_cluster):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")
    new = rotate_owner(client, resource, grace=0)["credentials"]
    with scram_cluster.superuser_connect() as su:
        su.execute(psycopg.sql.SQL("ALTER ROLE {} NOLOGIN").format(
            psycopg.sql.Identifier(new["username"])))
    assert refused(new)

    assert checked(client, resource)["ok"] is False
    assert checked(client, resource, repair=True)["ok"] is True

    pg_login(new).close()


def test_a_mariadb_owner_rotates_and_its_views_keep_working(make_client, mysql_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "mysql")
    old = revealed(client, resource)
    with _mysql(old) as cur:
        cur.execute("CREATE TABLE items (note text)")
        cur.execute("INSERT INTO items VALUES ('kept')")
        cur.execute("CREATE VIEW notes AS SELECT note FROM items")

    new = rotate_owner(client, resource, grace=0)["credentials"]

    with pytest.raises(pymysql.OperationalError), _mysql(old):
        pass
    with _mysql(new) as cur:
        cur.execute("SELECT note FROM notes")  # defined by the replaced, now locked, login
        assert cur.fetchall() == (("kept",),)
        cur.execute("CREATE VIEW mine AS SELECT note FROM items")
    assert checked(client, resource)["ok"] is True

    latest = rotate_owner(client, resource, grace=0)["credentials"]

    with _mysql(latest) as cur:
        cur.execute("SELECT count(*) FROM mine")  # its definer is the latest login now
        assert cur.fetchall() == ((1,),)
    with pytest.raises(pymysql.OperationalError), _mysql(new):
        pass
    assert checked(client, resource)["ok"] is True


#: What a tenant defines as the owner: a view, triggers (one named with a backtick and a
#: newline, fired after another), routines (one so named) and an event.
_DEFINED = (
    "CREATE TABLE items (note TEXT)",
    "CREATE TABLE log (note TEXT)",
    "CREATE VIEW notes AS SELECT note FROM items",
    "CREATE TRIGGER logged AFTER INSERT ON items FOR EACH ROW INSERT INTO log VALUES ('a')",
    "CREATE TRIGGER `odd``\nname` AFTER INSERT ON items FOR EACH ROW "
    "INSERT INTO log VALUES ('b %s')",
    "CREATE PROCEDURE counted(OUT n INT) SELECT COUNT(*) INTO n FROM items",
    "CREATE PROCEDURE `odd``\nproc`() SQL SECURITY INVOKER SELECT 'percent %s'",
    "CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2",
    "CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DO DELETE FROM log",
)


def _definers(cur: pymysql.cursors.Cursor, database: str) -> set[str]:
    cur.execute("SELECT DEFINER FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s "
                "UNION SELECT DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s "
                "UNION SELECT DEFINER FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s "
                "UNION SELECT DEFINER FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s",
                (database,) * 4)
    return {definer for (definer,) in cur.fetchall()}


def _assert_defined_by(fields: dict, inserted: int) -> None:
    """What ``_DEFINED`` made works for ``fields``' login, which defines it all."""
    with _mysql(fields) as cur:
        cur.execute("INSERT INTO items VALUES ('kept')")  # fires both triggers, in order
        cur.execute("SELECT note FROM notes")
        assert cur.fetchall() == (("kept",),) * inserted
        cur.execute("SELECT note FROM log")
        assert cur.fetchall() == (("a",), ("b %s",)) * inserted
        cur.execute("CALL counted(@n)")
        cur.execute("SELECT @n, twice(21)")
        assert cur.fetchone() == (inserted, 42)
        cur.execute("CALL `odd``\nproc`()")
        assert cur.fetchall() == (("percent %s",),)
        cur.execute("SHOW CREATE PROCEDURE counted")  # its definer reads its definition
        assert "SELECT COUNT(*) INTO n FROM items" in cur.fetchone()[2]
        assert _definers(cur, fields["database"]) == {f"{fields['username']}@%"}


def test_a_mariadb_owner_rotation_hands_what_the_old_login_defined_to_the_new_one(
    make_client, mysql_provider, bucket
):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "mysql")
    old = revealed(client, resource)
    with _mysql(old) as cur:
        for statement in _DEFINED:
            cur.execute(statement)
    owner_id = owner_credential(client, resource)["id"]

    new = rotate_owner(client, resource, grace=600)["credentials"]
    past_grace(owner_id)
    assert credential_sweeps.sweep_credentials() == 1

    with pytest.raises(pymysql.OperationalError), _mysql(old):
        pass
    _assert_defined_by(new, inserted=1)
    backup = completed_backup(client, resource)
    stored = Backup.objects.get(pk=backup["id"])
    dump = b"".join(unseal([bucket.read(stored.object_key)],
                           base64.b64decode(stored.data_key), compressed=stored.compressed))
    assert b"Left out" not in dump
    for routine in (b"PROCEDURE `counted`", b"PROCEDURE `odd``\nproc`", b"FUNCTION `twice`",
                    b"EVENT `nightly`", b"TRIGGER `odd``\nname`"):
        assert routine in dump

    latest = rotate_owner(client, resource, grace=0)["credentials"]  # a login replaces one

    _assert_defined_by(latest, inserted=2)
    admin = {"host": MYSQL_HOST, "port": MYSQL_PORT, "username": MYSQL_USER,
             "password": MYSQL_PASSWORD, "database": "mysql"}
    with _mysql(admin) as cur:  # the replaced logins are gone, not kept locked
        cur.execute("SELECT User FROM mysql.user WHERE User IN %s",
                    ((old["username"], new["username"]),))
        assert cur.fetchall() == ((old["username"],),)  # the owner's own account: locked
    assert not Credential.objects.get(pk=owner_id).retiring
    assert checked(client, resource)["ok"] is True


def test_revoking_an_owner_level_credential_hands_what_it_defined_to_the_owner(
    make_client, mysql_provider
):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "mysql")
    app = issue(client, resource, holder="migrations", access="owner").json()
    with _mysql(app["credentials"]) as cur:
        for statement in _DEFINED:
            cur.execute(statement)

    revoked = client.delete(f"{TEAM_A}/{resource['id']}/credentials/{app['id']}")

    assert revoked.json()["status"] == "revoked", revoked.json()
    _assert_defined_by(revealed(client, resource), inserted=1)
    admin = {"host": MYSQL_HOST, "port": MYSQL_PORT, "username": MYSQL_USER,
             "password": MYSQL_PASSWORD, "database": "mysql"}
    with _mysql(admin) as cur:  # dropped, not kept locked for what it had defined
        cur.execute("SELECT User FROM mysql.user WHERE User = %s",
                    (app["credentials"]["username"],))
        assert cur.fetchall() == ()


def test_what_cannot_be_handed_over_keeps_its_locked_definer_and_is_audited(
    make_client, mysql_provider
):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "mysql")
    old = revealed(client, resource)
    with _mysql(old) as cur:
        cur.execute("CREATE TABLE items (note TEXT)")
        cur.execute("CREATE TABLE gone (note TEXT)")
        cur.execute("CREATE VIEW notes AS SELECT note FROM items")
        cur.execute("CREATE VIEW `broken``\nview` AS SELECT note FROM gone")
        cur.execute("DROP TABLE gone")  # the view no longer compiles: not defined again

    new = rotate_owner(client, resource, grace=0)["credentials"]

    with _mysql(new) as cur:
        assert _definers(cur, new["database"]) == {f"{old['username']}@%",
                                                   f"{new['username']}@%"}
        cur.execute("SELECT DEFINER FROM information_schema.VIEWS WHERE TABLE_NAME = 'notes'")
        assert cur.fetchone() == (f"{new['username']}@%",)
    retired = AuditEntry.objects.get(action="credential.retire")
    assert retired.message == (
        f"dropped {old['username']}; view `broken``\\x0aview` is still defined by its old "
        f"login: the server said (1146) Table '{old['database']}.gone' doesn't exist")
    with pytest.raises(pymysql.OperationalError), _mysql(old):
        pass


@contextmanager
def _mysql(fields: dict) -> Iterator[pymysql.cursors.Cursor]:
    conn = pymysql.connect(host=fields["host"], port=fields["port"], user=fields["username"],
                           password=fields["password"], database=fields["database"],
                           autocommit=True, connect_timeout=5)
    with conn, conn.cursor() as cur:
        yield cur


def test_the_owner_rotates_on_schedule(make_client, scram_provider):
    client = make_client(team_a="RESOURCE_ADMIN", team_b="USER")
    resource = ready_resource(client, "pg-scram")
    owner = owner_credential(client, resource)
    url = f"{TEAM_A}/{resource['id']}/credentials/{owner['id']}"
    assert client.patch(url, {"rotation_period": 5}, format="json").status_code == 400

    scheduled = client.patch(url, {"rotation_period": 3600}, format="json")

    assert scheduled.status_code == 200, scheduled.json()
    assert scheduled.json()["rotation_period"] == 3600
    before = revealed(client, resource)
    Credential.objects.filter(pk=owner["id"]).update(next_rotation_at=timezone.now())
    assert credential_sweeps.sweep_credentials() == 1
    after = revealed(client, resource)
    assert after["username"] != before["username"]
    pg_login(after).close()
    assert client.patch(url, {"rotation_period": None}, format="json").json()[
        "next_rotation_at"] is None


def test_only_credential_managers_schedule_rotations(make_client, scram_provider):
    admin = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(admin, "pg-scram")
    owner = owner_credential(admin, resource)
    url = f"{TEAM_A}/{resource['id']}/credentials/{owner['id']}"
    for roles in ({"team_a": "USER"}, {"team_a": "CONSUMER_ADMIN"}, {"team_b": "ADMIN"}):
        answer = make_client(**roles).patch(url, {"rotation_period": 3600}, format="json")
        assert answer.status_code in (403, 404), (roles, answer.status_code)
    assert Credential.objects.get(pk=owner["id"]).rotation_period is None


def test_an_s3_owner_hands_over_to_a_key_of_its_own_and_check_repairs_it(
    make_client, s3_provider, moto_s3
):
    client = make_client(team_a="RESOURCE_ADMIN")
    created = client.post(TEAM_A, {"provider": s3_provider.key, "name": "files"},
                          format="json").json()
    old = Credentials.from_dict(revealed(client, created))
    tenant(moto_s3, old).put_object(Bucket=old.database, Key="kept", Body=b"x")

    new = Credentials.from_dict(rotate_owner(client, created, grace=0)["credentials"])

    assert Credentials.from_dict(revealed(client, created)) == new
    assert not can_list(moto_s3, old)
    reader = tenant(moto_s3, new)
    assert reader.get_object(Bucket=new.database, Key="kept")["Body"].read() == b"x"
    reader.put_object(Bucket=new.database, Key="later", Body=b"y")
    assert checked(client, created)["ok"] is True

    login = Credential.objects.get(resource_id=created["id"], holder=OWNER_HOLDER).login
    moto_s3.client("iam").update_access_key(UserName=login, AccessKeyId=new.username,
                                          Status="Inactive")
    assert checked(client, created)["ok"] is False
    assert checked(client, created, repair=True)["ok"] is True
    assert can_list(moto_s3, new)
    assert not can_list(moto_s3, old)  # the repair went to the login, not to the owner
