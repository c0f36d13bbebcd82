"""Seal waiting audit entries and write a checkpoint of the chain's head now."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from audit import checkpoints
from audit.models import AuditCheckpoint


class Command(BaseCommand):
    help = ("Seal waiting audit entries and write a checkpoint of the chain's head, signed "
            "with RM_AUDIT_SIGNING_KEY (unsigned without it).")

    def handle(self, *args, **options) -> None:
        checkpoint = checkpoints.write(AuditCheckpoint.Reason.MANUAL)
        if checkpoint is None:
            self.stdout.write("the audit trail is empty: no checkpoint")
            return
        signed = f"signed by key {checkpoint.key_id}" if checkpoint.signature else "unsigned"
        self.stdout.write(f"checkpoint {checkpoint.pk}: entry #{checkpoint.seq} "
                          f"{checkpoint.head_hash[:16]}…, {signed}")
