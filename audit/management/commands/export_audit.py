"""Write the audit trail as JSON lines to stdout, in chain order, from a cursor
(audit.export). Resume with --after the last line's seq."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit import export
from audit.chain import seal
from audit.models import AuditEntry


class Command(BaseCommand):
    help = ("Write sealed audit entries as JSON lines (one per entry, with its seq) to "
            "stdout; --after SEQ resumes after the last one read.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--after", type=int, default=0, metavar="CURSOR",
                            help="only entries whose seq is above this (default 0: all)")
        parser.add_argument("--scope", help="only this scope's entries ('' for those of "
                            "no scope, such as sign-ins)")
        parser.add_argument("--limit", type=int, help="at most this many entries")

    def handle(self, *args, after: int, scope: str | None, limit: int | None,
               **options) -> None:
        if after < 0:
            raise CommandError("--after is a seq, at least 0")
        if limit is not None and limit < 1:
            raise CommandError("--limit must be at least 1")
        seal()
        entries = AuditEntry.objects.all()
        if scope is not None:
            entries = entries.filter(scope=scope)
        count = last = 0
        for row in export.rows_after(entries, after, limit=limit):
            self.stdout.write(export.line(row))
            count, last = count + 1, row["seq"]
        self.stderr.write(f"{count} entries; resume with --after {last or after}")
