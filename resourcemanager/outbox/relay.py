"""The transactional outbox: work and events are rows first, queue messages second.

Services call ``enqueue_operation`` and ``emit_event`` inside the transaction that changes a
resource, so the row exists exactly when the change does. The process writes its rows
claimed for itself and publishes them as soon as that transaction commits (given back if
the broker refuses them); whatever could not be published (the broker is down) is picked
up by ``relay``, which Celery beat runs every ``RM_OUTBOX_RELAY_INTERVAL`` seconds, and a
row claimed but never handled (the broker lost it, or the process died before publishing
it) is published again after ``RM_OPERATION_TIMEOUT``. Delivery is at least once; the
receiving tasks are idempotent.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from celery import current_app
from celery.result import EagerResult
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from resourcemanager.outbox import queueing
from resourcemanager.outbox.models import OutboxMessage
from resourcemanager.telemetry.after_answer import after_answer
from resourcemanager.telemetry.context import get_request_id, get_source_ip, task_headers

if TYPE_CHECKING:  # the outbox reads a resource's fields; it needs no import of the model
    from resourcemanager.resources.models import Resource

logger = logging.getLogger(__name__)
Kind = OutboxMessage.Kind

#: After a failed publish, this process leaves publishing to the periodic relay for a while
#: instead of making every request wait for a broker that is down.
BROKER_DOWN_PAUSE = 15.0
_broker_down_until = 0.0


@dataclass(frozen=True)
class RelayReport:
    published: int
    #: Rows still unpublished.
    pending: int
    error: str = ""


def enqueue_operation(
    resource: Resource, operation: str, actor: str, *, repair: bool = True
) -> OutboxMessage:
    """Ask for a provider operation on ``resource`` once the current transaction commits."""
    return _add(
        Kind.OPERATION,
        operation,
        resource,
        {"actor": actor, "repair": repair},
    )


def enqueue_credential_operation(
    resource: Resource, credential_id: object, operation: str, actor: str
) -> OutboxMessage:
    """Ask for an operation on one of ``resource``'s credentials after the commit."""
    return _add(
        Kind.OPERATION,
        operation,
        resource,
        {"actor": actor, "credential_id": str(credential_id)},
    )


def enqueue_data_operation(
    resource: Resource, operation: str, run_id: object, actor: str
) -> OutboxMessage:
    """Ask for a data operation of ``resource`` (BACKUP, RESTORE, CLEANUP, CLONE; its
    record ``run_id``) after the commit."""
    return _add(Kind.OPERATION, operation, resource, {"actor": actor, "run_id": str(run_id)})


def emit_event(
    resource: Resource, event: str, actor: str, *, credential: dict[str, Any] | None = None
) -> OutboxMessage:
    """Announce ``event`` (``resource.created`` …) to whoever listens (consumers, logs);
    an event about one of the resource's credentials describes it (never its secret)."""
    payload: dict[str, Any] = {"actor": actor, "resource": describe(resource)}
    if credential:
        payload.update(holder=credential["holder"], credential=credential)
    return _add(Kind.EVENT, event, resource, payload)


def describe(resource: Resource) -> dict[str, Any]:
    """What an event says about a resource: never its credentials."""
    return {
        "id": str(resource.pk),
        "scope": resource.scope,
        "name": resource.name,
        "type": resource.type,
        "provider": resource.provider.key,
        "managed": resource.managed,
        "status": resource.status,
        "tags": list(resource.tags),
    }


def relay(*, batch_size: int = 200) -> RelayReport:
    """Publish due messages in order; stop at a broker error.

    Due are messages never published, and those published over ``RM_OPERATION_TIMEOUT``
    ago that no task has handled (the broker lost them). Rows are claimed with
    ``SKIP LOCKED``, so concurrent relays never publish the same row twice.
    """
    lost_after = timezone.now() - timedelta(seconds=settings.RM_OPERATION_TIMEOUT)
    in_process = bool(current_app.conf.task_always_eager)
    published = 0
    error = ""
    while not error:
        with transaction.atomic():
            claimed = OutboxMessage.objects.due(lost_after).select_for_update(skip_locked=True)
            batch = list(claimed.order_by("id")[:batch_size])
            if not batch:
                break
            if in_process:  # publishing runs the task: only after this transaction commits
                sent = [message.pk for message in batch]
            else:
                sent, error = _publish_batch(batch)
            OutboxMessage.objects.filter(pk__in=sent).update(published_at=timezone.now())
            published += len(sent)
        if in_process:
            for message in batch:
                _publish(message)
        if len(batch) < batch_size:
            break
    if error:
        _pause_fast_path()
        logger.warning("outbox relay stopped after %d message(s): %s", published, error)
    return RelayReport(published, OutboxMessage.objects.unpublished().count(), error)


def _publish_batch(batch: list[OutboxMessage]) -> tuple[list[int], str]:
    """Publish ``batch`` in order up to a broker error: the ids sent, and the error."""
    sent: list[int] = []
    for message in batch:
        try:
            _publish(message)
        except Exception as exc:  # kombu raises several types for a broker outage
            error = f"{type(exc).__name__}: {exc}"[:500]
            _note_failure(message, error)
            return sent, error
        sent.append(message.pk)
    return sent, ""


def mark_handled(message_id: int | None) -> None:
    """Called by the task that carried a message out: it need not be published again."""
    if message_id is not None:
        OutboxMessage.objects.filter(pk=message_id).update(handled_at=timezone.now())


def prune() -> int:
    """Forget handled messages older than ``RM_OUTBOX_RETENTION_DAYS``."""
    cutoff = timezone.now() - timedelta(days=settings.RM_OUTBOX_RETENTION_DAYS)
    deleted, _ = OutboxMessage.objects.filter(handled_at__lt=cutoff).delete()
    return deleted


def _publish_now(message: OutboxMessage) -> None:
    """The committing process publishes its own row at once: it wrote it claimed (no relay
    takes it before ``RM_OPERATION_TIMEOUT``), and gives it back to the periodic relay if
    the broker refuses it, or was found down meanwhile."""
    if current_app.conf.task_always_eager:  # publishing runs the task here
        if message.kind == Kind.EVENT:  # its handlers need not hold up a request's answer
            after_answer(lambda: _publish(message))
        else:
            _publish(message)
        return
    if time.monotonic() < _broker_down_until:
        _give_back(message, error="")
        return
    try:
        _publish(message)
    except Exception as exc:  # kombu raises several types for a broker outage
        error = f"{type(exc).__name__}: {exc}"[:500]
        _give_back(message, error=error)
        _pause_fast_path()
        logger.warning("publishing %s failed, the relay will: %s", message, error)


def _give_back(message: OutboxMessage, *, error: str) -> None:
    """Leave a row this process claimed to the periodic relay (``error``: of its try)."""
    unclaimed = OutboxMessage.objects.filter(pk=message.pk, handled_at__isnull=True)
    if error:
        unclaimed.update(published_at=None, publish_attempts=F("publish_attempts") + 1,
                         last_error=error)
    else:
        unclaimed.update(published_at=None)


def _add(kind: str, name: str, resource: Resource, payload: dict[str, Any]) -> OutboxMessage:
    """The row, claimed for this process to publish right after the commit (one write
    instead of an insert and a claim), unless the broker was found down: then the periodic
    relay publishes it."""
    claimed = bool(current_app.conf.task_always_eager) or time.monotonic() >= _broker_down_until
    message = OutboxMessage.objects.create(
        kind=kind,
        name=name,
        scope=resource.scope,
        resource_id=resource.pk,
        payload={**payload, "request_id": get_request_id(), "source_ip": get_source_ip()},
        published_at=timezone.now() if claimed else None,
    )
    if claimed:
        transaction.on_commit(lambda: _publish_now(message), robust=True)
    return message


def _publish(message: OutboxMessage) -> None:
    # The task works for the request that wrote the row, whoever publishes it (the relay).
    headers = task_headers(message.payload.get("request_id"), message.payload.get("source_ip"))
    if message.kind == Kind.OPERATION:
        task, own = _operation_task(message.payload)
        result = queueing.send(task, kwargs={
            "message_id": message.pk,
            "resource_id": str(message.resource_id),
            "operation": message.name,
            "actor": message.payload["actor"],
            **own,
        }, headers=headers)
    else:
        result = queueing.send(
            queueing.DELIVER_EVENT, kwargs={"message_id": message.pk}, headers=headers
        )
    if isinstance(result, EagerResult) and result.failed():
        # In-process mode ran the task right here; a worker would have logged this.
        logger.error("task for %s failed", message, exc_info=result.result)


def _operation_task(payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The task that runs an operation's message, and the arguments of its own: a
    credential's, a data operation's run, or the resource's own (with ``repair``)."""
    if "credential_id" in payload:
        return queueing.RUN_CREDENTIAL_OPERATION, {"credential_id": payload["credential_id"]}
    if "run_id" in payload:
        return queueing.RUN_DATA_OPERATION, {"run_id": payload["run_id"]}
    return queueing.RUN_RESOURCE_OPERATION, {"repair": payload.get("repair", True)}


def _note_failure(message: OutboxMessage, error: str) -> None:
    OutboxMessage.objects.filter(pk=message.pk).update(
        publish_attempts=message.publish_attempts + 1, last_error=error
    )


def _pause_fast_path() -> None:
    global _broker_down_until
    _broker_down_until = time.monotonic() + BROKER_DOWN_PAUSE
