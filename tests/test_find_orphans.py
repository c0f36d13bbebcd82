"""manage.py find_orphans and resourcemanager.resources.orphans against the local servers.

Instances use a name prefix of their own (tests.support.seeding.unique_prefix): dropping
orphans on the shared servers then can only touch what these tests made.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from psycopg import sql

from audit.models import AuditEntry
from providers.adapters.base import ProviderError
from providers.adapters.naming import new_backend_name, new_password
from providers.models import Provider
from resourcemanager.resources import orphans
from resourcemanager.resources.models import Resource
from tests.conftest import (
    MYSQL_HOST,
    MYSQL_PASSWORD,
    MYSQL_PORT,
    MYSQL_USER,
    PG_HOST,
    PG_PASSWORD,
    PG_PORT,
    PG_USER,
    pg_admin_connect,
)
from tests.support.seeding import ready_resource, unique_prefix

Status = Resource.Status
SERVERS = {
    "postgresql": (PG_HOST, PG_PORT, PG_USER, PG_PASSWORD),
    "mysql": (MYSQL_HOST, MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD),
}


class Terminal(StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(params=list(SERVERS))
def instance(request: pytest.FixtureRequest, backend_cleanup) -> Iterator[Provider]:
    host, port, user, password = SERVERS[request.param]
    provider = Provider.objects.create(
        key=f"orphans-{request.param}", provider_class=request.param, host=host, port=port,
        username=user, password=password, options={"name_prefix": unique_prefix()},
    )
    yield provider
    adapter = provider.adapter()
    for name in adapter.inventory(adapter.name_prefix).names:  # objects without records
        with contextlib.suppress(ProviderError):
            adapter.delete(name)


def bare_objects(provider: Provider) -> str:
    """A database and login named like ours, made behind the manager's back."""
    name = new_backend_name(provider.adapter().name_prefix)
    provider.adapter().create(name, new_password(), {})
    return name


def present(provider: Provider) -> frozenset[str]:
    adapter = provider.adapter()
    return adapter.inventory(adapter.name_prefix).names


def run(*args: str, stdin: StringIO | None = None) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("find_orphans", *args, stdout=out, stderr=err, stdin=stdin or StringIO())
    except CommandError as exc:
        return exc.returncode, out.getvalue(), str(exc) + err.getvalue()
    return 0, out.getvalue(), err.getvalue()


@pytest.fixture
def landscape(instance: Provider) -> dict[str, Resource | str]:
    """One of each: live records in every live status, a dropped record, a deleted record
    whose objects stayed, bare objects, and a ready record whose database is gone."""
    live = {status: ready_resource(instance, status) for status in
            (Status.PENDING, Status.CREATING, Status.READY, Status.ERROR, Status.DELETING)}
    for status, resource in live.items():
        Resource.objects.filter(pk=resource.pk).update(status=status)
    dropped = ready_resource(instance, "dropped")
    Resource.objects.filter(pk=dropped.pk).delete()
    deleted = ready_resource(instance, "deleted")
    Resource.objects.filter(pk=deleted.pk).update(status=Status.DELETED)
    gone = ready_resource(instance, "gone")
    instance.adapter().delete(gone.backend_name)
    return {"live": live, "dropped": dropped.backend_name, "deleted": deleted,
            "bare": bare_objects(instance), "gone": gone}


def test_lists_orphans_and_records_without_database(instance, landscape) -> None:
    [found] = orphans.find_orphans(instance.key)

    deleted = landscape["deleted"]
    assert {o.name: o for o in found.objects} == {
        landscape["dropped"]: orphans.OrphanObject(landscape["dropped"], True, True),
        deleted.backend_name: orphans.OrphanObject(deleted.backend_name, True, True,
                                                   str(deleted)),
        landscape["bare"]: orphans.OrphanObject(landscape["bare"], True, True),
    }
    gone = landscape["gone"]
    assert [(r.id, r.missing) for r in found.records] == [(str(gone.pk), ("database", "login"))]


def test_listing_deletes_nothing(instance, landscape) -> None:
    before = present(instance)

    status, out, _ = run("--provider", instance.key)

    assert status == 0
    assert f"orphan   {landscape['bare']}  database + login" in out
    assert "(record team-a/deleted is deleted)" in out
    assert f"missing  team-a/gone ({landscape['gone'].backend_name}, ready): " \
           "database and login gone" in out
    assert present(instance) == before
    assert not AuditEntry.objects.filter(action="orphan.delete").exists()


def test_delete_with_yes_drops_only_orphans(instance, landscape) -> None:
    status, out, _ = run("--provider", instance.key, "--delete", "--yes", "--json")

    assert status == 0
    [report] = json.loads(out)
    orphan_names = {landscape["dropped"], landscape["bare"], landscape["deleted"].backend_name}
    assert set(report["deleted"]) == orphan_names and report["not_deleted"] == {}
    assert present(instance) == {r.backend_name for r in landscape["live"].values()}
    audited = AuditEntry.objects.filter(action="orphan.delete", outcome="success")
    assert audited.count() == 3
    assert audited.get(target_id=str(landscape["deleted"].pk)).scope == "team-a"
    assert json.loads(run("--provider", instance.key, "--json")[1])[0]["objects"] == []


def test_delete_refuses_without_terminal_or_yes(instance, landscape) -> None:
    before = present(instance)

    status, _, err = run("--provider", instance.key, "--delete")

    assert status == 1 and "--yes" in err
    assert present(instance) == before


def test_delete_asks_for_the_instance_key(instance, landscape) -> None:
    before = present(instance)
    status, _, err = run("--provider", instance.key, "--delete", stdin=Terminal("no\n"))
    assert status == 0 and f"{instance.key}: nothing dropped" in err
    assert present(instance) == before

    run("--provider", instance.key, "--delete", stdin=Terminal(f"{instance.key}\n"))

    assert landscape["bare"] not in present(instance)


def test_an_object_with_a_live_record_is_never_dropped(instance, landscape) -> None:
    for resource in landscape["live"].values():
        assert orphans.delete_orphan(instance, resource.backend_name) == "a live record owns it"
    assert present(instance) >= {r.backend_name for r in landscape["live"].values()}


@pytest.mark.parametrize("suffix", ["aaaaaaaaaaaa; DROP ROLE postgres", "aaaaaaaaaaa'"])
def test_hostile_names_are_neither_listed_nor_dropped(pg_provider: Provider, suffix) -> None:
    name = pg_provider.adapter().name_prefix + suffix  # the default 'rm_'
    with pg_admin_connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
        try:
            [found] = orphans.find_orphans(pg_provider.key)
            assert name not in {o.name for o in found.objects}
            with pytest.raises(ValueError, match="not a generated backend name"):
                orphans.delete_orphan(pg_provider, name)
        finally:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def test_default_prefix_objects_made_directly_are_listed(pg_provider: Provider) -> None:
    name = bare_objects(pg_provider)  # rm_ + 12: listed, never dropped by this test
    try:
        status, out, _ = run("--provider", pg_provider.key, "--json")
        assert status == 0
        assert name in {o["name"] for o in json.loads(out)[0]["objects"]}
    finally:
        pg_provider.adapter().delete(name)


def test_unreachable_instance_is_reported(instance) -> None:
    Provider.objects.filter(pk=instance.pk).update(port=1)
    try:
        status, out, _ = run("--provider", instance.key)
    finally:
        Provider.objects.filter(pk=instance.pk).update(port=SERVERS[instance.provider_class][1])

    assert status == 1
    assert f"{instance.key}: cannot scan: cannot reach" in out
