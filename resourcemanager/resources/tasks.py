"""Celery tasks running resource operations and sweeps. Thin: the runner does the work."""

import logging
from collections.abc import Callable

from celery import Task, shared_task

from resourcemanager.outbox import queueing, relay
from resourcemanager.resources import (
    credential_runs,
    credential_sweeps,
    operations,
    resource_runs,
    stuck,
    sweeps,
)
from resourcemanager.telemetry import context

logger = logging.getLogger(__name__)


@shared_task(
    bind=True, name=queueing.RUN_RESOURCE_OPERATION, acks_late=True, max_retries=None
)
def run_resource_operation(
    self,
    resource_id: str,
    operation: str,
    actor: str,
    request_id: str = "",
    source_ip: str | None = None,
    repair: bool = True,
    message_id: int | None = None,
) -> None:
    """Run one operation; transient backend failures come back with exponential backoff.

    The operation runner counts the runs in the database and ends in ``error`` after
    ``RM_TASK_MAX_RETRIES`` retries, so Celery's own count (reset by a re-queue) sets no
    limit. A resource busy with another run is tried again after a backoff too.
    In-process mode (no broker) makes one attempt: there is no queue to wait in; a busy
    resource's message stays unhandled and the relay publishes it again later.
    ``message_id`` is the outbox row this task carries out. The request's id and address
    come in the message headers (``resourcemanager.telemetry.context``); ``request_id`` and
    ``source_ip`` are accepted, unused, from messages queued by earlier versions.
    """
    run_with_retries(
        self, lambda last_attempt: resource_runs.run_operation(
            resource_id, operation, actor=actor, repair=repair, last_attempt=last_attempt,
            message_id=message_id),
        f"{operation} of resource {resource_id}", message_id)


@shared_task(
    bind=True, name=queueing.RUN_CREDENTIAL_OPERATION, acks_late=True, max_retries=None
)
def run_credential_operation(
    self, resource_id: str, credential_id: str, operation: str, actor: str,
    message_id: int | None = None,
) -> None:
    """One operation of a credential (ISSUE, RENEW, ROTATE, RETIRE, REVOKE), retried as
    resource operations are."""
    run_with_retries(
        self, lambda last_attempt: credential_runs.run_credential_operation(
            resource_id, credential_id, operation, actor=actor, last_attempt=last_attempt,
            message_id=message_id),
        f"{operation} of credential {credential_id}", message_id)


def run_with_retries(
    task: Task, run: Callable[[bool], bool | None], what: str, message_id: int | None
) -> None:
    """Run ``run(last_attempt)``; a transient failure comes back after a backoff, a busy
    resource too. In-process mode (no broker) makes one attempt: there is no queue to wait
    in, and a busy resource's message stays unhandled for the relay to publish again.
    The message is marked handled afterwards unless ``run`` says it did so itself (with
    the outcome it recorded)."""
    try:
        handled = run(bool(task.request.is_eager))
    except operations.RetryLater as exc:
        if task.request.is_eager:
            logger.info("%s not run now: %s", what, exc)
            return
        raise task.retry(countdown=queueing.retry_delay(exc.attempt - 1)) from exc
    except Exception:
        relay.mark_handled(message_id)  # publishing it again would fail the same way
        raise
    if not handled:
        relay.mark_handled(message_id)


@shared_task(name="providers.sweep_checks")
def sweep_checks() -> dict:
    """Periodic batched CHECK of every scope's resources, repairing what can be repaired
    (scheduled by ``CELERY_BEAT_SCHEDULE`` every ``RM_CHECK_INTERVAL`` seconds)."""
    context.bind(context.new_request_id())
    report = sweeps.sweep(repair=True).as_dict()
    return {key: value for key, value in report.items() if key not in ("instances", "resources")}


@shared_task(name="resourcemanager.sweep_stuck_operations")
def sweep_stuck_operations() -> None:
    stuck.sweep_stuck_operations()


@shared_task(name="resourcemanager.sweep_credentials")
def sweep_credentials() -> None:
    """Revoke expired credentials, drop logins replaced by rotations once their grace is
    over, start scheduled rotations and queue again lost credential runs (scheduled every
    ``RM_CREDENTIAL_SWEEP_INTERVAL`` seconds)."""
    credential_sweeps.sweep_credentials()
