"""The answers of requests whose operation a worker carries out: what the request wrote,
without reading it back, and no read the request does not need."""

from __future__ import annotations

from django.db import connection, reset_queries
from django.test.utils import CaptureQueriesContext

from resourcemanager.scopes.models import ScopeQuota
from tests.support.workers import publishing_to

TEAM_A = "/api/c/team-a/resources"


def captured_statements() -> CaptureQueriesContext:
    """The statements of a block; the log emptied first (full, it would capture none)."""
    reset_queries()
    return CaptureQueriesContext(connection)


def reads(captured: CaptureQueriesContext) -> dict[str, int]:
    """Table → SELECTs from it. Ask before the next request, which empties the log."""
    counted: dict[str, int] = {}
    for query in captured.captured_queries:
        if query["sql"].startswith("SELECT"):
            table = query["sql"].split(' FROM "', 1)[1].split('"', 1)[0]
            counted[table] = counted.get(table, 0) + 1
    return counted


def test_a_create_queued_for_a_worker_answers_the_row_it_wrote(make_client, memory_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    with publishing_to("memory://"), captured_statements() as captured:
        answer = client.post(TEAM_A, {"provider": "mem", "name": "orders", "tags": ["a"]},
                             format="json")
    read = reads(captured)

    assert answer.status_code == 201, answer.json()
    assert answer["Cache-Control"] == "no-store"
    body = answer.json()
    assert (body["status"], body["credentials"], body["connection"]) == ("pending", None, None)
    shown = client.get(f"{TEAM_A}/{body['id']}").json()
    assert {**shown, "credentials": None} == body
    # Nothing read back: no name looked up first (the constraint refuses a taken one),
    # no re-read for the answer; the token brings its user, its external identity and
    # its memberships.
    assert "resourcemanager_resource" not in read
    assert read["resourcemanager_apitoken"] == 1
    assert "resourcemanager_externalidentity" not in read
    assert "resourcemanager_scoperole" not in read
    assert read["providers_provider"] == 1


def test_an_issue_queued_for_a_worker_answers_the_credential_it_wrote(make_client,
                                                                      scram_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    made = client.post(TEAM_A, {"provider": "pg-scram", "name": "orders"}, format="json")
    assert made.json()["status"] == "ready"
    url = f"{TEAM_A}/{made.json()['id']}/credentials"
    with publishing_to("memory://"), captured_statements() as captured:
        answer = client.post(url, {"holder": "billing", "access": "read-only", "ttl": 3600},
                             format="json")
    read = reads(captured)

    assert answer.status_code == 202, answer.json()
    body = answer.json()
    assert body["status"] == "issuing"
    assert body["credentials"]["username"] == body["username"]
    shown = client.get(f"{url}/{body['id']}").json()
    assert {**shown, "credentials": body["credentials"]} == body
    assert "resourcemanager_credential" not in read
    # Looked up in the scope and locked by one read, which brings its provider.
    assert read["resourcemanager_resource"] == 1
    assert "providers_provider" not in read


def test_a_taken_name_is_the_answer_over_quota_too(make_client, memory_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    assert client.post(TEAM_A, {"provider": "mem", "name": "orders"},
                       format="json").status_code == 201
    ScopeQuota.objects.create(scope="team-a", max_resources=1)

    def refused(name: str) -> tuple[int, str]:
        answer = client.post(TEAM_A, {"provider": "mem", "name": name}, format="json")
        return answer.status_code, answer.json()["code"]

    assert refused("orders") == (409, "name_taken")
    assert refused("other") == (409, "quota_exceeded")
    ScopeQuota.objects.filter(scope="team-a").update(max_resources=None)
    assert refused("orders") == (409, "name_taken")


def test_a_delete_queued_for_a_worker_answers_the_row_it_wrote(make_client, memory_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    made = client.post(TEAM_A, {"provider": "mem", "name": "orders"}, format="json").json()
    with publishing_to("memory://"), captured_statements() as captured:
        answer = client.delete(f"{TEAM_A}/{made['id']}")
    read = reads(captured)

    assert answer.status_code == 202
    assert answer.json()["status"] == "deleting"
    shown = client.get(f"{TEAM_A}/{made['id']}").json()
    assert answer.json() == {name: shown[name] for name in answer.json()}
    # Looked up in the scope and locked by one read, which brings its provider.
    assert read["resourcemanager_resource"] == 1
    assert "providers_provider" not in read
