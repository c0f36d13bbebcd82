"""Celery tasks of the outbox: the relay and the delivery of events to their handlers."""

from celery import shared_task
from django.conf import settings

from resourcemanager.outbox import events, queueing, relay


@shared_task(name="resourcemanager.relay_outbox", ignore_result=True)
def relay_outbox() -> None:
    relay.relay()
    relay.prune()


@shared_task(
    name=queueing.DELIVER_EVENT,
    acks_late=True,
    autoretry_for=(Exception,),
    max_retries=settings.RM_TASK_MAX_RETRIES,
    retry_backoff=settings.RM_TASK_RETRY_BACKOFF,
    retry_backoff_max=settings.RM_TASK_RETRY_BACKOFF_MAX,
)
def deliver_event(message_id: int) -> None:
    """Hand one event to the handlers; a failing handler gets the event again later."""
    events.deliver(message_id)
    relay.mark_handled(message_id)
