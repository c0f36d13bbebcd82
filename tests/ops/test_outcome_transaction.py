"""A run's outcome, the release of its lease and the end of its outbox message are one
transaction: the resource is written once with its outcome, and the message is marked
handled before that transaction commits, never after it. A worker that dies before the
commit leaves the message to the relay (at least once); one that dies after it leaves
nothing to run again. A dropped outcome (the lease lost) ends the message too; a retry to
come does not."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection, reset_queries
from django.test.utils import CaptureQueriesContext

from providers.adapters.base import ProviderError
from resourcemanager.outbox.models import OutboxMessage
from resourcemanager.resources import credential_runs, operations, resource_runs, tasks
from resourcemanager.resources.models import Credential, Resource
from tests.support.workers import publishing_to

TEAM_A = "/api/c/team-a/resources"


class WorkerKilled(BaseException):
    """The worker process dies here: no handler of the task runs after it."""


def queued(client, url: str, body: dict) -> tuple[dict, OutboxMessage]:
    """The answer of a request whose operation is queued, not run, and its message."""
    with publishing_to("memory://"):
        answer = client.post(url, body, format="json")
    assert answer.status_code in (201, 202), answer.json()
    return answer.json(), OutboxMessage.objects.filter(kind="operation").latest("id")


def queued_issue(client) -> tuple[dict, OutboxMessage]:
    """A MariaDB resource made (in-process), and a read-write ISSUE on it queued."""
    made = client.post(TEAM_A, {"provider": "mysql", "name": "orders"}, format="json").json()
    return queued(client, f"{TEAM_A}/{made['id']}/credentials",
                  {"holder": "billing", "access": "read-write"})


def run(message: OutboxMessage) -> list[str]:
    """Run the message's task as a worker would, and return the statements it ran."""
    task, own = ((tasks.run_credential_operation,
                  {"credential_id": message.payload["credential_id"]})
                 if "credential_id" in message.payload else (tasks.run_resource_operation, {}))
    reset_queries()
    with CaptureQueriesContext(connection) as captured:
        task.apply(kwargs={"resource_id": str(message.resource_id), "operation": message.name,
                           "actor": message.payload["actor"], "message_id": message.pk,
                           **own}).get()
    return [query["sql"] for query in captured.captured_queries]


def marking(statement: str, message: OutboxMessage) -> bool:
    """Whether ``statement`` marks ``message`` handled."""
    return (statement.startswith('UPDATE "resourcemanager_outboxmessage" SET "handled_at"')
            and statement.endswith(f'"resourcemanager_outboxmessage"."id" = {message.pk}'))


def outcome_transaction(statements: list[str], message: OutboxMessage) -> list[str]:
    """The statements of the transaction that marks ``message`` handled."""
    marking_at = next(index for index, each in enumerate(statements)
                      if marking(each, message))
    begin = max(index for index in range(marking_at)
                if statements[index].startswith("BEGIN"))
    end = next(index for index in range(marking_at, len(statements))
               if statements[index] == "COMMIT")
    return statements[begin:end + 1]


def writes_of(statements: list[str], table: str) -> list[str]:
    return [each for each in statements if each.startswith(f'UPDATE "{table}"')]


def test_a_create_records_its_outcome_its_lease_and_its_message_in_one_write_each(
    make_client, memory_provider
):
    client = make_client(team_a="RESOURCE_ADMIN")
    body, message = queued(client, TEAM_A, {"provider": "mem", "name": "orders"})

    statements = run(message)

    resource = Resource.objects.get(pk=body["id"])
    assert (resource.status, resource.lease_id, resource.operation) == ("ready", None, "")
    message.refresh_from_db()
    assert message.handled_at is not None
    recording = outcome_transaction(statements, message)
    # The claim, then the outcome with the lease's release: no second UPDATE.
    assert len(writes_of(statements, "resourcemanager_resource")) == 2
    assert len(writes_of(recording, "resourcemanager_resource")) == 1
    # Marked handled inside the outcome's transaction, and not once more after it.
    assert len([each for each in statements if marking(each, message)]) == 1
    # A resource never created before has no owner's credential to look for.
    assert not [each for each in recording if 'FROM "resourcemanager_credential"' in each]
    owner = Credential.objects.get(resource=resource, holder="resource:owner")
    assert (owner.login, owner.secret) == (resource.backend_name, resource.credentials)


def test_an_issue_records_the_credential_in_one_write_with_its_message(
    make_client, mysql_provider, recorded_events
):
    client = make_client(team_a="RESOURCE_ADMIN")
    body, message = queued_issue(client)

    statements = run(message)

    credential = Credential.objects.get(pk=body["id"])
    assert credential.status == "active"
    assert credential.secret["username"] == body["username"]
    message.refresh_from_db()
    assert message.handled_at is not None
    recording = outcome_transaction(statements, message)
    assert len(writes_of(recording, "resourcemanager_credential")) == 1
    assert not [each for each in recording if 'FROM "resourcemanager_credential"' in each]
    assert len(writes_of(recording, "resourcemanager_resource")) == 1  # the lease
    issued = [each for each in recorded_events if each.name == "credential.issued"]
    assert [each.credential["status"] for each in issued] == ["active"]


def test_an_issue_revoked_while_the_login_is_made_is_not_recorded(
    make_client, mysql_provider, recorded_events, monkeypatch
):
    client = make_client(team_a="RESOURCE_ADMIN")
    body, message = queued_issue(client)
    carry_out = credential_runs._carry_out

    def revoked_meanwhile(*args, **kwargs):
        issued = carry_out(*args, **kwargs)
        Credential.objects.filter(pk=body["id"]).update(status="revoking")  # as a request
        return issued

    monkeypatch.setattr(credential_runs, "_carry_out", revoked_meanwhile)
    run(message)

    credential = Credential.objects.get(pk=body["id"])
    assert credential.status == "revoking"  # its REVOKE drops the login
    assert "credential.issued" not in [each.name for each in recorded_events]
    message.refresh_from_db()
    assert message.handled_at is not None
    assert Resource.objects.get(pk=message.resource_id).lease_id is None


def test_a_worker_dying_before_the_outcome_commits_leaves_the_message_to_the_relay(
    make_client, memory_provider, monkeypatch
):
    client = make_client(team_a="RESOURCE_ADMIN")
    body, message = queued(client, TEAM_A, {"provider": "mem", "name": "orders"})

    def die(*args, **kwargs):
        raise WorkerKilled

    monkeypatch.setattr(resource_runs, "audit_resource", die)  # inside the outcome's transaction
    with pytest.raises(WorkerKilled):
        tasks.run_resource_operation(str(message.resource_id), message.name,
                                     message.payload["actor"], message_id=message.pk)

    message.refresh_from_db()
    assert message.handled_at is None  # published again once RM_OPERATION_TIMEOUT is over
    resource = Resource.objects.get(pk=body["id"])
    assert resource.status == "creating"
    assert resource.lease_id is not None  # expires; the sweep takes it over


def test_a_worker_dying_after_the_outcome_committed_leaves_nothing_to_run_again(
    make_client, mysql_provider, monkeypatch
):
    client = make_client(team_a="RESOURCE_ADMIN")
    body, message = queued_issue(client)

    def die(*args, **kwargs):
        raise WorkerKilled

    monkeypatch.setattr(credential_runs.metrics, "provider_operation", die)  # after the commit
    with pytest.raises(WorkerKilled):
        tasks.run_credential_operation(str(message.resource_id), body["id"], message.name,
                                       message.payload["actor"], message_id=message.pk)

    assert Credential.objects.get(pk=body["id"]).status == "active"
    message.refresh_from_db()
    assert message.handled_at is not None


def test_a_dropped_outcome_still_ends_its_message(make_client, memory_provider, monkeypatch):
    client = make_client(team_a="RESOURCE_ADMIN")
    body, message = queued(client, TEAM_A, {"provider": "mem", "name": "orders"})
    taken_over = uuid.uuid4()

    def lease_taken_over(scope: str) -> None:  # by the sweep, while the backend works
        Resource.objects.filter(pk=body["id"]).update(lease_id=taken_over)

    monkeypatch.setattr(resource_runs, "require_data_key", lease_taken_over)
    run(message)

    resource = Resource.objects.get(pk=body["id"])
    assert (resource.status, resource.lease_id) == ("creating", taken_over)  # left to it
    message.refresh_from_db()
    assert message.handled_at is not None


def test_a_retry_to_come_leaves_its_message_unhandled(make_client, memory_provider,
                                                      monkeypatch):
    client = make_client(team_a="RESOURCE_ADMIN")
    body, message = queued(client, TEAM_A, {"provider": "mem", "name": "orders"})

    def unreachable(scope: str) -> None:
        raise ProviderError("the KMS does not answer", transient=True)

    monkeypatch.setattr(resource_runs, "require_data_key", unreachable)
    with pytest.raises(operations.RetryLater):
        resource_runs.run_operation(body["id"], "create", actor="user0", last_attempt=False,
                                 message_id=message.pk)

    message.refresh_from_db()
    assert message.handled_at is None  # the retry carries it out
    resource = Resource.objects.get(pk=body["id"])
    assert (resource.status, resource.lease_id, resource.attempts) == ("creating", None, 1)
    assert resource.status_message.endswith("the KMS does not answer")
