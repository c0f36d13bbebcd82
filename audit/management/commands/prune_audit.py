"""Delete old audit entries, keeping the rest verifiable (audit.retention)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from audit.retention import PruneRefused, prune
from resourcemanager.identity.roles import SYSTEM


class Command(BaseCommand):
    help = ("Delete the audit entries written before a date, after verifying the trail and "
            "writing a signed checkpoint at the cut; audited as audit.prune.")

    def add_arguments(self, parser: CommandParser) -> None:
        when = parser.add_mutually_exclusive_group(required=True)
        when.add_argument("--before", metavar="DATE",
                          help="delete entries older than this date (2026-01-31) or time "
                          "(2026-01-31T12:00:00Z)")
        when.add_argument("--keep-days", type=int, metavar="DAYS",
                          help="delete entries older than this many days")

    def handle(self, *args, before: str | None, keep_days: int | None, **options) -> None:
        cutoff = self._cutoff(before, keep_days)
        try:
            report = prune(cutoff, SYSTEM.name)
        except PruneRefused as exc:
            raise CommandError(str(exc), returncode=1) from None
        if not report.deleted:
            self.stdout.write(f"no audit entry older than {cutoff:%Y-%m-%d %H:%M:%S %Z}")
            return
        self.stdout.write(f"{report.deleted} audit entries deleted, up to #{report.cut}; "
                          f"checkpoint {report.checkpoint.pk} anchors the rest")

    @staticmethod
    def _cutoff(before: str | None, keep_days: int | None) -> datetime:
        if keep_days is not None:
            if keep_days < 0:
                raise CommandError("--keep-days must be at least 0")
            return timezone.now() - timedelta(days=keep_days)
        try:
            moment = parse_datetime(before)
            if moment is None and (day := parse_date(before)) is not None:
                moment = datetime.combine(day, time.min)
        except ValueError:
            moment = None
        if moment is None:
            raise CommandError("--before takes a date (2026-01-31) or a time "
                               "(2026-01-31T12:00:00Z)")
        return moment if timezone.is_aware(moment) else timezone.make_aware(moment)
