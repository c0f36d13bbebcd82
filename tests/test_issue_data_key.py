"""An ISSUE encrypts its secret under the scope's current data key, which it reads before
its transaction: committed for real here, so that the process keeps the key it read
(``datakeys.current_key``) and the ISSUEs after the first read none."""

from __future__ import annotations

from django.db import connection, reset_queries
from django.test.utils import CaptureQueriesContext

from resourcemanager.core import datakeys
from tests.support.workers import publishing_to

TEAM_A = "/api/c/team-a/resources"


def test_issues_in_a_row_read_the_scope_s_data_key_once(make_client, scram_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    made = client.post(TEAM_A, {"provider": "pg-scram", "name": "orders"}, format="json").json()
    assert made["status"] == "ready"
    url = f"{TEAM_A}/{made['id']}/credentials"

    def key_reads(holder: str) -> int:
        reset_queries()
        with CaptureQueriesContext(connection) as captured:
            answer = client.post(url, {"holder": holder, "access": "read-only"}, format="json")
        assert answer.status_code == 202, answer.json()
        return sum('FROM "resourcemanager_datakey"' in query["sql"]
                   for query in captured.captured_queries)

    datakeys.forget_current()  # as a process whose last key read is older than its keeping
    with publishing_to("memory://"):
        assert key_reads("first") == 1
        assert key_reads("second") == 0
        assert key_reads("third") == 0
