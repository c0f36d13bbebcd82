"""The batched CHECK sweep (resourcemanager.resources.sweeps) against the local servers."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from psycopg import sql

from audit.models import AuditEntry, ChainHead
from providers.models import Provider
from resourcemanager.resources import sweeps, tasks
from resourcemanager.resources.models import Resource
from tests.conftest import mysql_admin_connect, pg_admin_connect
from tests.support.leaks import NAME_PREFIX
from tests.support.seeding import ready_resource

Status = Resource.Status


def pg(statement: sql.Composable) -> None:
    with pg_admin_connect() as conn:
        conn.execute(statement)


def ident(resource: Resource) -> sql.Identifier:
    return sql.Identifier(resource.backend_name)


def checks_audited() -> set[str]:
    return set(AuditEntry.objects.filter(action="resource.check").values_list("target_id",
                                                                               flat=True))


def test_healthy_resources_are_recorded_in_bulk(pg_provider: Provider) -> None:
    first = [ready_resource(pg_provider, f"db{i}") for i in range(2)]
    ChainHead.objects.get_or_create(pk=1)  # as after an installation's first audit entry
    with CaptureQueriesContext(connection) as few:
        sweeps.sweep()
    more = first + [ready_resource(pg_provider, f"more{i}") for i in range(4)]
    with CaptureQueriesContext(connection) as many:
        report = sweeps.sweep()

    assert len(many) == len(few)  # no per-resource query, whatever the count
    assert report.as_dict()["ok"] == 6 and report.failing == []
    for resource in more:
        resource.refresh_from_db()
        assert resource.last_check_ok is True
        assert resource.last_check_message == sweeps.PASSED_MESSAGE
    assert checks_audited() == set()
    [summary, _] = AuditEntry.objects.filter(action="provider.check_sweep")
    assert summary.outcome == "success" and "checked 6: 6 ok" in summary.message


def test_sweep_repairs_what_it_can_and_reports_the_rest(pg_provider: Provider) -> None:
    healthy, no_login, no_database, revoked = (
        ready_resource(pg_provider, name) for name in ("a", "b", "c", "d"))
    pg(sql.SQL("ALTER DATABASE {} OWNER TO CURRENT_USER").format(ident(no_login)))
    pg(sql.SQL("DROP ROLE {}").format(ident(no_login)))
    pg(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(ident(no_database)))
    pg(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM {}").format(ident(revoked), ident(revoked)))

    report = sweeps.sweep(repair=True)

    [instance] = report.instances
    assert (instance.checked, instance.ok, instance.repaired, instance.failing) == (4, 1, 2, 1)
    assert {o.name: (o.ok, o.repaired) for o in instance.outcomes} == {
        "b": (True, True), "d": (True, True), "c": (False, False)}
    [failing] = report.failing
    assert "no longer exists" in failing.message
    assert checks_audited() == {str(r.pk) for r in (no_login, no_database, revoked)}
    assert AuditEntry.objects.get(action="provider.check_sweep").outcome == "failure"
    # What was repaired passes the next catalog sweep without a per-resource CHECK.
    assert pg_provider.adapter().inventory(NAME_PREFIX).healthy >= {
        no_login.backend_name, revoked.backend_name, healthy.backend_name}


def test_no_repair_leaves_the_backend_alone(mysql_provider: Provider) -> None:
    resource = ready_resource(mysql_provider, "orders")
    with mysql_admin_connect() as conn, conn.cursor() as cur:
        cur.execute("DROP USER %s@'%%'", (resource.backend_name,))

    report = sweeps.sweep(repair=False)

    [failing] = report.failing
    assert failing.name == "orders" and "does not exist" in failing.message
    resource.refresh_from_db()
    assert resource.last_check_ok is False
    assert resource.backend_name not in mysql_provider.adapter().inventory(NAME_PREFIX).logins


def test_error_resource_healthy_again_becomes_ready(pg_provider: Provider) -> None:
    resource = ready_resource(pg_provider, "flaky")
    Resource.objects.filter(pk=resource.pk).update(status=Status.ERROR,
                                                   status_message="server was down")

    sweeps.sweep()

    resource.refresh_from_db()
    assert (resource.status, resource.status_message, resource.last_check_ok) == (
        Status.READY, "", True)
    assert checks_audited() == {str(resource.pk)}  # the service's own CHECK changed it


def test_unreachable_instance_fails_readably_and_recovers(pg_provider: Provider) -> None:
    resources = [ready_resource(pg_provider, f"db{i}") for i in range(2)]
    port = pg_provider.port
    Provider.objects.filter(pk=pg_provider.pk).update(port=1)

    down = sweeps.sweep()

    reason = "cannot reach PostgreSQL at 127.0.0.1:1: connection refused"
    assert down.instances[0].error == reason
    assert [o.message for o in down.failing] == [reason, reason]
    for resource in resources:
        resource.refresh_from_db()
        assert (resource.status, resource.last_check_ok) == (Status.READY, False)
        assert resource.last_check_message == reason
    assert checks_audited() == {str(r.pk) for r in resources}

    Provider.objects.filter(pk=pg_provider.pk).update(port=port)
    up = sweeps.sweep()

    assert up.failing == [] and up.as_dict()["ok"] == 2
    for resource in resources:
        resource.refresh_from_db()
        assert resource.last_check_ok is True


def test_filters_select_scope_provider_and_failing(
    pg_provider: Provider, mysql_provider: Provider
) -> None:
    a = ready_resource(pg_provider, "a", scope="team-a")
    ready_resource(pg_provider, "b", scope="team-b")
    ready_resource(mysql_provider, "c", scope="team-a")
    Resource.objects.filter(pk=a.pk).update(last_check_ok=False)

    def checked(**filters) -> dict[str, int]:
        return {i.provider: i.checked for i in sweeps.sweep(**filters).instances}

    assert checked(scope="team-a") == {"mysql": 1, "pg": 1}
    assert checked(provider="pg") == {"pg": 2}
    assert checked(scope="team-a", provider="pg") == {"pg": 1}
    Resource.objects.filter(pk=a.pk).update(last_check_ok=False)
    assert checked(only_failing=True) == {"pg": 1}
    assert checked(scope="nope") == {}


def test_scopes_outside_the_scope_list_are_not_swept(pg_provider: Provider, settings) -> None:
    ready_resource(pg_provider, "a", scope="team-a")
    ready_resource(pg_provider, "b", scope="retired")
    settings.RM_SCOPE_LIST = ["team-a"]

    assert sweeps.sweep().as_dict()["checked"] == 1


def test_deep_runs_the_full_check_for_every_resource(pg_provider: Provider) -> None:
    resources = [ready_resource(pg_provider, f"db{i}") for i in range(2)]

    report = sweeps.sweep(deep=True)

    assert report.as_dict()["ok"] == 2
    assert checks_audited() == {str(r.pk) for r in resources}
    resources[0].refresh_from_db()
    assert resources[0].last_check_message == "database, login and privileges are in order"


def test_resource_whose_creation_failed_is_created_again_only_with_repair(
    pg_provider: Provider,
) -> None:
    resource = Resource.objects.create(
        scope="team-a", provider=pg_provider, type="sql", name="late",
        backend_name="rm_late00000000", status=Status.ERROR,
        status_message="cannot reach PostgreSQL")

    [kept] = sweeps.sweep(repair=False).failing
    assert kept.message == "not created: cannot reach PostgreSQL"

    report = sweeps.sweep(repair=True)

    assert report.as_dict()["repaired"] == 1
    resource.refresh_from_db()
    assert resource.status == Status.READY and resource.credentials is not None


def test_progress_reaches_the_total(pg_provider: Provider, mysql_provider: Provider) -> None:
    ready_resource(pg_provider, "a")
    ready_resource(mysql_provider, "b")
    seen: list[tuple[int, int]] = []

    sweeps.sweep(progress=lambda done, total: seen.append((done, total)))

    assert seen[-1] == (2, 2)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_periodic_task_sweeps_every_scope_with_repair(pg_provider: Provider) -> None:
    resource = ready_resource(pg_provider, "a", scope="team-a")
    ready_resource(pg_provider, "b", scope="team-b")
    pg(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM {}").format(ident(resource), ident(resource)))

    summary = tasks.sweep_checks()

    assert summary == {"checked": 2, "ok": 1, "repaired": 1, "failing": 0,
                       "seconds": pytest.approx(summary["seconds"]), "frozen": 0,
                       "unfrozen": 0}
    assert AuditEntry.objects.get(action="provider.check_sweep").request_id


def test_no_secret_reaches_reports_or_audit(pg_provider: Provider) -> None:
    resource = ready_resource(pg_provider, "a")
    pg(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(ident(resource)))

    report = sweeps.sweep()

    password = resource.credentials["password"]
    assert password not in repr(report.as_dict())
    assert not AuditEntry.objects.filter(message__contains=password).exists()

