"""The session's leftover check sees what a test leaves on each server, and only that.

``no_backend_leaks`` (tests/conftest.py) fails the session with these listings; here they
are read directly while an object exists and after it is gone.
"""

from __future__ import annotations

from psycopg import sql

from providers.adapters.naming import new_backend_name
from tests.conftest import mysql_admin_connect, pg_admin_connect
from tests.support.leaks import NAME_PREFIX, SESSION_PREFIX, mysql_objects, s3_objects
from tests.support.seeding import unique_prefix

TEAM_A = "/api/c/team-a/resources"


def test_a_resource_of_the_fixtures_is_a_leftover_until_deleted(
    make_client, pg_provider, scram_cluster
):
    client = make_client(team_a="RESOURCE_ADMIN")
    created = client.post(TEAM_A, {"provider": "pg", "name": "orders"}, format="json").json()
    name = created["credentials"]["database"]

    assert name.startswith(NAME_PREFIX)
    assert {f"database {name}", f"role {name}"} <= scram_cluster.leftovers()
    client.delete(f"{TEAM_A}/{created['id']}")
    assert not {f"database {name}", f"role {name}"} & scram_cluster.leftovers()


def test_anything_made_on_the_session_cluster_is_a_leftover(scram_cluster):
    name = new_backend_name()  # the default prefix: the cluster is the session's alone
    with pg_admin_connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(name)))
        try:
            assert scram_cluster.leftovers() >= {f"role {name}"}
        finally:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
    assert f"role {name}" not in scram_cluster.leftovers()


def test_mariadb_objects_count_only_with_the_session_prefix(mysql_provider):
    ours, theirs = new_backend_name(unique_prefix()), new_backend_name("rm_")
    with mysql_admin_connect() as conn, conn.cursor() as cur:
        for name in (ours, theirs):
            cur.execute(f"CREATE DATABASE `{name}`")
            cur.execute("CREATE USER %s@'%%'", (name,))
        try:
            found = mysql_objects(conn, SESSION_PREFIX)
        finally:
            for name in (ours, theirs):
                cur.execute(f"DROP DATABASE `{name}`")
                cur.execute("DROP USER %s@'%%'", (name,))
        assert {f"database {ours}", f"user {ours}@%"} <= found
        assert not {f"database {theirs}", f"user {theirs}@%"} & found
        assert not {f"database {ours}", f"user {ours}@%"} & mysql_objects(conn, SESSION_PREFIX)


def test_buckets_and_iam_users_on_moto_are_listed(moto_s3):
    s3, iam = moto_s3.client("s3"), moto_s3.client("iam")
    s3.create_bucket(Bucket="rt-leftover-probe")
    iam.create_user(UserName="rt-leftover-probe")
    try:
        assert {"bucket rt-leftover-probe", "IAM user rt-leftover-probe"} <= s3_objects(s3, iam)
    finally:
        s3.delete_bucket(Bucket="rt-leftover-probe")
        iam.delete_user(UserName="rt-leftover-probe")
    assert "bucket rt-leftover-probe" not in s3_objects(s3, iam)
