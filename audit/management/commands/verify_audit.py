"""Verify the audit trail's hash chain and signed checkpoints (audit.verification).

Exit status: 0 when intact (warnings included), 1 naming the first broken link.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.verification import verify


class Command(BaseCommand):
    help = ("Walk the audit trail's hash chain from its oldest entry kept, check every "
            "checkpoint and its signature; exit 1 naming the first broken link.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=5000,
                            help="entries read per query (default %(default)s)")

    def handle(self, *args, batch_size: int, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        report = verify(batch_size=batch_size, progress=self._progress)
        for warning in report.warnings:
            self.stderr.write(f"warning: {warning}")
        if report.problems:
            for problem in report.problems:
                self.stderr.write(f"BROKEN: {problem}")
            raise CommandError(
                f"the audit trail does not verify: {report.problems[0]}", returncode=1)
        self.stdout.write(
            f"audit trail intact: {report.entries} entries, {report.checkpoints} "
            f"checkpoints, newest sealed #{report.newest}")

    def _progress(self, done: int, total: int) -> None:
        if total > 50_000 or self.stderr.isatty():
            self.stderr.write(f"verified {done}/{total} entries")
