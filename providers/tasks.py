"""Celery tasks of provider instances."""

from celery import shared_task

from providers.services import probe_providers


@shared_task(name="providers.probe")
def probe() -> None:
    """Test every enabled instance's admin connection; the providers API shows the outcome."""
    probe_providers()
