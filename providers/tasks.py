"""Celery tasks of provider instances."""

from celery import shared_task

from providers.services import probe_provider, probe_providers
from resourcemanager.outbox import queueing


@shared_task(name="providers.probe")
def probe() -> None:
    """Test every enabled instance's admin connection; the providers API shows the outcome."""
    probe_providers()


@shared_task(name=queueing.PROBE_PROVIDER)
def probe_one(provider_id: int) -> None:
    """Test one instance's admin connection, as declared or changed just now."""
    probe_provider(provider_id)
