"""Celery tasks delivering events to consumers. Thin: ``consumers.services`` does the work."""

from celery import shared_task
from django.conf import settings

from consumers import background, deliveries, drains
from resourcemanager.outbox import queueing


@shared_task(bind=True, name=queueing.DRAIN_CONSUMER, acks_late=True)
def drain(self, consumer_id: str) -> None:
    """Deliver a consumer's due deliveries in batches; queued again for what is left or
    waits for a retry. A worker runs it in a thread that may outlast the task
    (``consumers.background``); in-process mode delivers all here, one attempt each."""
    if self.request.is_eager:
        drains.drain(consumer_id, in_process=True, backoff=backoff)
    else:
        background.run(lambda: _drain_and_requeue(consumer_id))


def _drain_and_requeue(consumer_id: str) -> None:
    again_in = drains.drain(consumer_id, in_process=False, backoff=backoff)
    if again_in is not None:
        drains.queue([consumer_id], countdown=again_in, again=True)


@shared_task(bind=True, name=queueing.DELIVER_TO_CONSUMER, acks_late=True, max_retries=None)
def deliver(self, delivery_id: int, request_id: str = "", source_ip: str | None = None) -> None:
    """Deliver one event to one consumer (messages queued per delivery, by earlier
    versions); transient failures come back with exponential backoff, up to
    ``RM_CONSUMER_MAX_RETRIES`` times, counted in the database (Celery's own count, reset
    by a re-queue, sets no limit). In-process mode makes one attempt. ``request_id`` and
    ``source_ip`` are accepted, unused: the request's context comes in the headers."""
    try:
        deliveries.deliver(delivery_id, in_process=bool(self.request.is_eager), backoff=backoff)
    except deliveries.RetryDelivery as exc:
        raise self.retry(countdown=exc.delay) from exc


def backoff(attempt: int) -> float:
    """Seconds before the retry that follows the ``attempt``-th failed attempt."""
    return queueing.retry_delay(
        attempt - 1,
        base=settings.RM_CONSUMER_RETRY_BACKOFF,
        cap=settings.RM_CONSUMER_RETRY_BACKOFF_MAX,
    )


@shared_task(name="consumers.requeue_stalled")
def requeue_stalled() -> None:
    deliveries.requeue_stalled()
