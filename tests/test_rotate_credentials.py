"""manage.py rotate_credentials on the real PostgreSQL (scram: passwords are really
checked): selection, dry run, skipped and failed rotations, progress, bad arguments."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from psycopg import sql

from audit.models import AuditEntry
from providers.models import Provider
from resourcemanager.identity.roles import SYSTEM
from resourcemanager.resources.credentials import issue_credential, reveal_credential
from resourcemanager.resources.models import Credential, Resource
from tests.api.test_credentials import pg_login
from tests.conftest import ScramCluster
from tests.support.seeding import ready_resource


class Terminal(StringIO):
    def isatty(self) -> bool:
        return True


def run(*args: str, stdout: StringIO | None = None) -> tuple[int, str]:
    """(exit status, stdout) of the command."""
    out = stdout or StringIO()
    try:
        call_command("rotate_credentials", *args, stdout=out, stderr=StringIO())
    except CommandError as exc:
        return exc.returncode, out.getvalue()
    return 0, out.getvalue()


def issued(resource: Resource, holder: str, *, age: timedelta | None = None
           ) -> tuple[Credential, dict]:
    """An active credential on ``resource`` and its secret, issued ``age`` ago."""
    credential, secret = issue_credential(SYSTEM, resource, holder=holder, access="read-write")
    if age is not None:
        Credential.objects.filter(pk=credential.pk).update(created_at=timezone.now() - age)
    credential.refresh_from_db()
    assert credential.status == Credential.Status.ACTIVE
    return credential, secret.as_dict()


@pytest.fixture(name="orders")
def orders_resource(scram_provider: Provider) -> Resource:
    return ready_resource(scram_provider, "orders")


def test_rotates_by_scope_and_age_and_the_new_secrets_work(
    scram_provider: Provider, orders: Resource
) -> None:
    old, old_secret = issued(orders, "etl", age=timedelta(days=40))
    recent, _ = issued(orders, "web", age=timedelta(days=2))
    other_scope, _ = issued(ready_resource(scram_provider, "b", scope="team-b"), "etl",
                            age=timedelta(days=40))

    status, out = run("--scope", "team-a", "--older-than", "30d", "--grace", "600")

    assert status == 0, out
    rotated = Credential.objects.get(pk=old.pk)
    assert rotated.status == Credential.Status.ACTIVE and rotated.login != old.login
    new_secret = reveal_credential(SYSTEM, rotated).as_dict()
    with pg_login(new_secret) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (rotated.login,)
    pg_login(old_secret).close()  # valid for its grace
    assert rotated.retiring[0]["login"] == old.login
    assert {c.pk: c.login for c in Credential.objects.filter(pk__in=[recent.pk,
            other_scope.pk])} == {recent.pk: recent.login, other_scope.pk: other_scope.login}
    assert out.splitlines()[0] == (f"1/1 rotated team-a/orders etl (read-write) {old.pk}: "
                                   f"new login {rotated.login}")
    assert out.rstrip().endswith("1 selected: 1 rotated")
    assert sorted(AuditEntry.objects.filter(action="credential.rotate").values_list(
        "actor", "outcome")) == [("system", "accepted"), ("system", "success")]

    status, _ = run("--scope", "team-a", "--scope", "team-b", "--older-than", "1h",
                    "--grace", "0")
    assert status == 0
    assert Credential.objects.get(pk=other_scope.pk).login != other_scope.login
    assert Credential.objects.get(pk=recent.pk).login != recent.login
    assert Credential.objects.get(pk=old.pk).login == rotated.login  # rotated just now


def test_age_counts_from_the_last_rotation_and_the_resource_narrows(
    scram_provider: Provider, orders: Resource
) -> None:
    rotated_lately, _ = issued(orders, "etl", age=timedelta(days=40))
    Credential.objects.filter(pk=rotated_lately.pk).update(
        rotated_at=timezone.now() - timedelta(hours=1))
    elsewhere, _ = issued(ready_resource(scram_provider, "b"), "etl", age=timedelta(days=40))

    assert run("--older-than", "90m")[1].rstrip().endswith("1 selected: 1 rotated")
    assert Credential.objects.get(pk=rotated_lately.pk).login == rotated_lately.login

    assert run("--resource", str(orders.pk))[1].rstrip().endswith("1 selected: 1 rotated")
    assert Credential.objects.get(pk=rotated_lately.pk).login != rotated_lately.login
    assert Credential.objects.get(pk=elsewhere.pk).login != elsewhere.login  # from before


def test_dry_run_lists_and_changes_nothing(orders: Resource) -> None:
    credential, secret = issued(orders, "etl", age=timedelta(days=3))

    status, out = run("--dry-run", "--provider", "pg-scram")

    assert status == 0
    assert out.splitlines() == [
        f"would rotate team-a/orders etl (read-write) {credential.pk}: issued 3d ago",
        "1 credential(s) would be rotated (dry run: nothing changed)"]
    after = Credential.objects.get(pk=credential.pk)
    assert (after.login, after.status, after.pending_secret) == (
        credential.login, Credential.Status.ACTIVE, None)
    assert not AuditEntry.objects.filter(action="credential.rotate").exists()
    pg_login(secret).close()


def test_refused_ones_are_skipped_and_failed_ones_fail_the_run(
    scram_provider: Provider, scram_cluster: ScramCluster, orders: Resource
) -> None:
    busy, _ = issued(orders, "etl")
    lost = ready_resource(scram_provider, "lost")
    broken, _ = issued(lost, "etl")
    fine, _ = issued(ready_resource(scram_provider, "fine"), "etl")
    Resource.objects.filter(pk=orders.pk).update(status=Resource.Status.ERROR)
    with scram_cluster.superuser_connect() as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)")
                     .format(sql.Identifier(lost.backend_name)))

    status, out = run("--grace", "0", stdout=Terminal())

    assert status == 1
    assert "\rrotating 3/3\n" in out
    assert (f"skipped team-a/orders etl (read-write) {busy.pk}: the resource is error; "
            "credentials are issued and rotated on ready resources") in out
    assert f"failed team-a/lost etl (read-write) {broken.pk}: rotate failed: " in out
    assert out.rstrip().endswith("3 selected: 1 rotated, 1 skipped, 1 failed")
    assert Credential.objects.get(pk=fine.pk).login != fine.login
    assert Credential.objects.get(pk=broken.pk).login == broken.login
    assert Credential.objects.get(pk=busy.pk).status == Credential.Status.ACTIVE


@pytest.mark.parametrize(("args", "message"), [
    (["--older-than", "30 days"], "--older-than is a number of seconds"),
    (["--older-than", "-5"], "--older-than is a number of seconds"),
    (["--grace", "soon"], "--grace is a number of seconds"),
    (["--grace", "30d"], "grace may be at most 604800 seconds"),
    (["--provider", "nope"], "no provider instance 'nope'"),
    (["--resource", "not-a-uuid"], "no resource 'not-a-uuid'"),
    (["--wait", "-1"], "--wait is a number of seconds"),
])
def test_bad_arguments_are_named_and_change_nothing(
    orders: Resource, args: list[str], message: str
) -> None:
    credential, _ = issued(orders, "etl")

    with pytest.raises(CommandError, match=message):
        call_command("rotate_credentials", *args, stdout=StringIO(), stderr=StringIO())

    assert Credential.objects.get(pk=credential.pk).login == credential.login
