"""manage.py check_resources: options, table and JSON reports, exit status, progress."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from psycopg import sql

from providers.models import Provider
from resourcemanager.resources.models import Resource
from tests.conftest import pg_admin_connect
from tests.support.seeding import ready_resource


class Terminal(StringIO):
    def isatty(self) -> bool:
        return True


def run(*args: str, stderr: StringIO | None = None) -> tuple[int, str]:
    """(exit status, stdout) of the command."""
    out = StringIO()
    try:
        call_command("check_resources", *args, stdout=out, stderr=stderr or StringIO())
    except CommandError as exc:
        return exc.returncode, out.getvalue()
    return 0, out.getvalue()


def drop_database(resource: Resource) -> None:
    with pg_admin_connect() as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)")
                     .format(sql.Identifier(resource.backend_name)))


def test_table_lists_instances_and_failing_resources(
    pg_provider: Provider, mysql_provider: Provider
) -> None:
    ready_resource(pg_provider, "kept")
    lost = ready_resource(pg_provider, "lost")
    ready_resource(mysql_provider, "other")
    drop_database(lost)

    status, out = run()

    assert status == 1
    lines = out.splitlines()
    assert lines[0].split() == ["instance", "checked", "ok", "repaired", "failing", "seconds"]
    assert lines[1].split()[:5] == ["mysql", "1", "1", "0", "0"]
    assert lines[2].split()[:5] == ["pg", "2", "1", "0", "1"]
    assert lines[3].split()[:5] == ["total", "3", "2", "0", "1"]
    assert f"FAIL     team-a/lost (pg): database {lost.backend_name} no longer exists" in out
    assert out.rstrip().endswith("3 checked, 1 failing, 0 repaired")


def test_json_report_and_exit_status(pg_provider: Provider) -> None:
    ready_resource(pg_provider, "kept", scope="team-a")
    lost = ready_resource(pg_provider, "lost", scope="team-b")
    drop_database(lost)

    status, out = run("--json")
    assert status == 1
    report = json.loads(out)
    assert (report["checked"], report["ok"], report["failing"]) == (2, 1, 1)
    [instance] = report["instances"]
    assert instance["provider"] == "pg" and instance["error"] == ""
    [row] = report["resources"]
    assert (row["id"], row["scope"], row["ok"]) == (str(lost.pk), "team-b", False)

    status, out = run("--json", "--scope", "team-a")
    assert status == 0 and json.loads(out)["checked"] == 1


def test_only_failing_provider_and_no_repair(
    pg_provider: Provider, mysql_provider: Provider
) -> None:
    broken = ready_resource(pg_provider, "broken")
    ready_resource(mysql_provider, "fine")
    with pg_admin_connect() as conn:
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO PUBLIC")
                     .format(sql.Identifier(broken.backend_name)))

    assert run("--provider", "pg", "--no-repair")[0] == 1
    status, out = run("--only-failing", "--json")  # repairs by default

    report = json.loads(out)
    assert status == 0
    assert (report["checked"], report["repaired"]) == (1, 1)
    assert run("--only-failing")[1].rstrip().endswith("0 checked, 0 failing, 0 repaired")


def test_deep_checks_each_resource_as_its_tenant(pg_provider: Provider) -> None:
    resource = ready_resource(pg_provider, "a")

    assert run("--deep")[0] == 0

    resource.refresh_from_db()
    assert resource.last_check_message == "database, login and privileges are in order"


def test_unreachable_instance_does_not_crash_and_clears_later(pg_provider: Provider) -> None:
    ready_resource(pg_provider, "a")
    port = pg_provider.port
    Provider.objects.filter(pk=pg_provider.pk).update(port=1)

    status, out = run()

    assert status == 1
    assert "pg: cannot reach PostgreSQL at 127.0.0.1:1: connection refused" in out
    assert "FAIL     team-a/a (pg): cannot reach PostgreSQL at 127.0.0.1:1" in out

    Provider.objects.filter(pk=pg_provider.pk).update(port=port)
    assert run("--only-failing")[0] == 0
    assert Resource.objects.get().last_check_ok is True


@pytest.mark.parametrize("tty", [True, False])
def test_progress_bar_only_on_a_terminal(pg_provider: Provider, tty: bool) -> None:
    ready_resource(pg_provider, "a")
    stderr = Terminal() if tty else StringIO()

    run(stderr=stderr)

    assert ("[" + "#" * 30 + "] 1/1" in stderr.getvalue()) is tty
