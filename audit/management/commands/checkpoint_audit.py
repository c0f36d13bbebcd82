"""Seal waiting audit entries, verify the chain since the last checkpoint and write a
checkpoint of its head now."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from audit.models import AuditCheckpoint
from audit.verification import checkpoint_if_intact


class Command(BaseCommand):
    help = ("Seal waiting audit entries, verify the chain since the last checkpoint and "
            "write a checkpoint of its head, signed with RM_AUDIT_SIGNING_KEY (unsigned "
            "without it); exit 1, writing none, when the chain does not verify.")

    def handle(self, *args, **options) -> None:
        report = checkpoint_if_intact(AuditCheckpoint.Reason.MANUAL)
        if report.problems:
            raise CommandError(f"the audit trail does not verify, no checkpoint written: "
                               f"{report.problems[0]}", returncode=1)
        checkpoint = report.written
        if checkpoint is None:
            self.stdout.write("the audit trail is empty: no checkpoint")
            return
        signed = f"signed by key {checkpoint.key_id}" if checkpoint.signature else "unsigned"
        self.stdout.write(f"checkpoint {checkpoint.pk}: entry #{checkpoint.seq} "
                          f"{checkpoint.head_hash[:16]}…, {signed}")
