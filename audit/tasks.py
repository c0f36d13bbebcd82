"""Celery tasks of the audit trail: the sealing and checkpoint sweep, the sink."""

from celery import shared_task

from audit import shipping, verification
from audit.models import AuditCheckpoint


@shared_task(name="audit.sweep", ignore_result=True)
def sweep() -> None:
    """Seal entries whose process died before sealing them; verify the chain since the
    last checkpoint and, if it holds, checkpoint the head if it moved."""
    verification.checkpoint_if_intact(AuditCheckpoint.Reason.PERIODIC, only_if_moved=True)


@shared_task(name="audit.ship", ignore_result=True)
def ship() -> None:
    shipping.ship()
