"""Celery tasks of the audit trail: sealing, the checkpoint sweep, the sink."""

from celery import shared_task

from audit import chain, shipping, verification
from audit.models import AuditCheckpoint


@shared_task(name="audit.seal", ignore_result=True)
def seal() -> None:
    """Seal the entries no process sealed after its commit (``audit.chain``)."""
    chain.seal_waiting()


@shared_task(name="audit.sweep", ignore_result=True)
def sweep() -> None:
    """Seal entries whose process died before sealing them; verify the chain since the
    last checkpoint and, if it holds, checkpoint the head if it moved."""
    verification.checkpoint_if_intact(AuditCheckpoint.Reason.PERIODIC, only_if_moved=True)


@shared_task(name="audit.ship", ignore_result=True)
def ship() -> None:
    shipping.ship()
