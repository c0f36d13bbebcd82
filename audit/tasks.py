"""Celery tasks of the audit trail: the sealing and checkpoint sweep, the sink."""

from celery import shared_task

from audit import checkpoints, shipping
from audit.models import AuditCheckpoint


@shared_task(name="audit.sweep", ignore_result=True)
def sweep() -> None:
    """Seal entries whose process died before sealing them; checkpoint the head if it
    moved since the last checkpoint."""
    checkpoints.write(AuditCheckpoint.Reason.PERIODIC, only_if_moved=True)


@shared_task(name="audit.ship", ignore_result=True)
def ship() -> None:
    shipping.ship()
