"""Celery tasks delivering events to consumers. Thin: ``consumers.services`` does the work."""

from celery import shared_task
from django.conf import settings

from consumers import services
from providers.tasks import retry_delay
from resourcemanager import context


@shared_task(bind=True, name="consumers.deliver", acks_late=True)
def deliver(self, delivery_id: int, request_id: str = "", source_ip: str | None = None) -> None:
    """Deliver one event to one consumer; transient failures come back with exponential
    backoff, up to ``RM_CONSUMER_MAX_RETRIES`` times. In-process mode makes one attempt."""
    context.bind(request_id, source_ip)
    retries = self.request.retries
    delay = retry_delay(
        retries,
        base=settings.RM_CONSUMER_RETRY_BACKOFF,
        cap=settings.RM_CONSUMER_RETRY_BACKOFF_MAX,
    )
    try:
        services.deliver(
            delivery_id,
            last_attempt=self.request.is_eager or retries >= settings.RM_CONSUMER_MAX_RETRIES,
            retry_in=delay,
        )
    except services.RetryDelivery as exc:
        raise self.retry(countdown=delay, max_retries=None) from exc


@shared_task(name="consumers.requeue_stalled")
def requeue_stalled() -> None:
    services.requeue_stalled()
