"""What the re-encrypting commands share: the batch size, progress on a terminal, and
the all-or-nothing run of ``key_rotation.rekey``."""

from __future__ import annotations

from collections.abc import Collection

from django.core.management.base import BaseCommand, CommandError, CommandParser

from resourcemanager.core import key_rotation
from resourcemanager.core.key_rotation import EncryptedColumn
from resourcemanager.core.kms import KMSError


class RekeyCommand(BaseCommand):
    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=key_rotation.DEFAULT_BATCH_SIZE,
            help="rows read and re-encrypted at a time (default %(default)s)",
        )

    def rekey(self, scopes: Collection[str] | None, *, fresh: bool, batch_size: int) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        tty = self.stdout.isatty()
        try:
            counts = key_rotation.rekey(scopes, fresh=fresh, batch_size=batch_size,
                                        progress=self._progress if tty else None)
        except (key_rotation.RotationFailed, KMSError) as exc:
            if tty:
                self.stdout.write("")  # end the progress line
            raise CommandError(f"{exc}; nothing was changed") from None
        if not tty:  # a terminal saw the progress lines
            for label, count in counts.items():
                self.stdout.write(f"{label}: {count}")
        self.stdout.write(self.style.SUCCESS(
            f"re-encrypted {sum(counts.values())} secrets in {len(counts)} columns; every "
            "one is under its scope's current data key"
        ))

    def _progress(self, column: EncryptedColumn, done: int, total: int) -> None:
        """One line per column, rewritten in place, on a terminal."""
        ending = "\n" if done >= total else ""
        self.stdout.write(f"\r{column.label}: {done}/{total}", ending=ending)
        self.stdout.flush()
