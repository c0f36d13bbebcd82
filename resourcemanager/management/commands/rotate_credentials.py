"""Rotate the selected credentials, one at a time, as the system
(resourcemanager.resources.credential_batches).

Exit status: 0 when none failed (skipped ones included), 1 when any failed.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from resourcemanager.core.errors import ServiceError
from resourcemanager.resources import credential_batches as batches
from resourcemanager.resources.credential_batches import BatchReport, RotationOutcome


class Command(BaseCommand):
    help = (
        "Rotate active credentials, selected by scope, provider instance, resource and age, "
        "one at a time through the rotation service (each audited, the replaced login valid "
        "for the grace period). Refused ones are skipped with the reason. Exits 1 when any "
        "rotation fails."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scope", action="append", default=[], dest="scopes",
                            help="only this scope (repeatable)")
        parser.add_argument("--provider", help="only resources of this provider instance (key)")
        parser.add_argument("--resource", help="only this resource (id)")
        parser.add_argument("--older-than", metavar="AGE",
                            help="only those last rotated (or issued) at least AGE ago: "
                            "seconds, or 90m, 12h, 30d")
        parser.add_argument("--grace", metavar="SECONDS",
                            help="how long each replaced login keeps working (seconds, or "
                            "90m, 12h, 1d; default RM_CREDENTIAL_ROTATION_GRACE)")
        parser.add_argument("--wait", type=float, default=60, metavar="SECONDS",
                            help="how long to wait for each rotation a worker carries out "
                            "(default %(default)s)")
        parser.add_argument("--dry-run", action="store_true",
                            help="list what would be rotated; change nothing")

    def handle(self, *args, scopes, provider, resource, older_than, grace, wait, dry_run,
               **options) -> None:
        if wait < 0:
            raise CommandError("--wait is a number of seconds, at least 0")
        try:
            age = None if older_than is None else batches.parse_duration(
                older_than, "--older-than")
            grace_seconds = None if grace is None else batches.parse_duration(grace, "--grace")
            selected = batches.select_credentials(scopes, provider, older_than=age,
                                                  resource=resource)
            if dry_run:
                self._dry_run(batches.would_rotate(selected))
                return
            tty = self.stdout.isatty()
            report = batches.rotate_selected(
                selected, grace=grace_seconds, wait=wait,
                progress=self._progress_bar if tty else self._progress_line)
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        if tty:
            self._not_rotated(report)
        self._summary(report)
        if failed := len(report.failed):
            raise CommandError(f"{failed} credential(s) failed to rotate", returncode=1)

    def _dry_run(self, report: BatchReport) -> None:
        for each in report.outcomes:
            self.stdout.write(f"would rotate {each.target} {each.credential_id}: "
                              f"{each.message}")
        self.stdout.write(f"{len(report.outcomes)} credential(s) would be rotated (dry run: "
                          "nothing changed)")

    def _progress_line(self, done: int, total: int, outcome: RotationOutcome) -> None:
        """Not a terminal (a log): one line per credential."""
        self.stdout.write(f"{done}/{total} {self._line(outcome)}")

    def _progress_bar(self, done: int, total: int, outcome: RotationOutcome) -> None:
        """A terminal: one line rewritten in place; what was not rotated follows it."""
        ending = "\n" if done >= total else ""
        self.stdout.write(f"\rrotating {done}/{total}", ending=ending)
        self.stdout.flush()

    def _not_rotated(self, report: BatchReport) -> None:
        for each in report.outcomes:
            if each.outcome != batches.ROTATED:
                self.stdout.write(self._line(each))

    @staticmethod
    def _line(outcome: RotationOutcome) -> str:
        text = f"{outcome.outcome} {outcome.target} {outcome.credential_id}"
        return f"{text}: {outcome.message}" if outcome.message else text

    def _summary(self, report: BatchReport) -> None:
        counts = {kind: report.count(kind) for kind in (
            batches.ROTATED, batches.QUEUED, batches.SKIPPED, batches.FAILED)}
        text = ", ".join(f"{count} {kind}" for kind, count in counts.items()
                         if count or kind == batches.ROTATED)
        style = self.style.ERROR if counts[batches.FAILED] else self.style.SUCCESS
        self.stdout.write(style(f"{len(report.outcomes)} selected: {text}"))
