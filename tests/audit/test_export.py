"""The trail as JSON lines from a cursor: ``export_audit`` and ``GET /audit/export``."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEntry
from audit.services import record

EXPORT = "/api/c/{scope}/audit/export"


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line]


def export(*args: str) -> tuple[list[dict], str]:
    out, err = StringIO(), StringIO()
    call_command("export_audit", *args, stdout=out, stderr=err)
    return lines(out.getvalue()), err.getvalue()


def test_the_command_resumes_after_its_cursor(trail):
    trail(3)
    trail(2, scope="team-b")
    trail(2)

    everything, note = export()
    assert [row["seq"] for row in everything] == [1, 2, 3, 4, 5, 6, 7]
    assert note.strip() == "7 entries; resume with --after 7"
    first, note = export("--limit", "4")
    rest, _ = export("--after", note.split()[-1])
    assert first + rest == everything
    team_a, _ = export("--after", "2", "--scope", "team-a")
    assert [(row["seq"], row["scope"]) for row in team_a] == [(3, "team-a"), (6, "team-a"),
                                                              (7, "team-a")]
    entry = AuditEntry.objects.get(seq=3)
    assert team_a[0] == {
        "seq": 3, "timestamp": entry.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": "alice", "scope": "team-a", "action": "resource.update",
        "target_type": "", "target_id": "", "target_name": "", "outcome": "success",
        "message": "entry 2", "request_id": "", "source_ip": None,
        "prev_hash": entry.prev_hash, "entry_hash": entry.entry_hash,
    }


def test_the_command_refuses_a_negative_cursor(trail):
    with pytest.raises(CommandError, match="--after is a seq"):
        export("--after", "-1")


def _recorded(scope: str, count: int) -> None:
    for n in range(count):
        record("carol", "test.export", "success", scope=scope, message=f"{scope} {n}")


def _read(client, scope: str, **params) -> tuple[list[dict], object]:
    response = client.get(EXPORT.format(scope=scope), params)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/x-ndjson"
    return lines(b"".join(response.streaming_content).decode()), response


def test_a_scope_admin_reads_the_scope_trail_alone_resuming_by_cursor(make_client):
    admin = make_client(team_a="ADMIN")
    _recorded("team-a", 3)
    _recorded("team-b", 3)
    _recorded("team-a", 2)

    page, response = _read(admin, "team-a", limit=3)
    assert response["X-Audit-More"] == "true"
    rest, last = _read(admin, "team-a", after=response["X-Audit-Cursor"])
    assert last["X-Audit-More"] == "false"

    read = page + rest
    assert {row["scope"] for row in read} == {"team-a"}
    assert [row["message"] for row in read if row["action"] == "test.export"] == [
        "team-a 0", "team-a 1", "team-a 2", "team-a 0", "team-a 1"]
    assert [row["seq"] for row in read] == sorted({row["seq"] for row in read})
    assert int(last["X-Audit-Cursor"]) == read[-1]["seq"]
    nothing, after_all = _read(admin, "team-a", after=last["X-Audit-Cursor"])
    assert nothing == [] and after_all["X-Audit-Cursor"] == last["X-Audit-Cursor"]


@pytest.mark.parametrize("role", ["RESOURCE_ADMIN", "CONSUMER_ADMIN", "USER"])
def test_other_roles_and_other_scopes_are_refused(make_client, role):
    _recorded("team-b", 2)
    member = make_client(team_a=role)
    admin_of_a = make_client(team_a="ADMIN")

    assert member.get(EXPORT.format(scope="team-a")).status_code == 403
    refused = admin_of_a.get(EXPORT.format(scope="team-b"))
    assert refused.status_code == 403
    assert b"team-b 0" not in refused.content
    other, _ = _read(admin_of_a, "team-a")
    assert all(row["scope"] == "team-a" for row in other)


def test_an_operator_reads_any_scope(make_client):
    _recorded("team-b", 2)
    operator = make_client(operator=True)

    read, _ = _read(operator, "team-b")

    assert [row["message"] for row in read if row["action"] == "test.export"] == [
        "team-b 0", "team-b 1"]


@pytest.mark.parametrize("params", [{"after": "-1"}, {"after": "x"}, {"limit": "0"},
                                    {"limit": "10001"}])
def test_a_bad_cursor_or_limit_is_refused_by_name(make_client, params):
    admin = make_client(team_a="ADMIN")

    response = admin.get(EXPORT.format(scope="team-a"), params)

    assert response.status_code == 400
    assert list(response.json()["fields"]) == list(params)
