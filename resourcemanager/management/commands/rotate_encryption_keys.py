"""Re-encrypt every stored secret with the first key of RM_ENCRYPTION_KEYS."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from resourcemanager.core import key_rotation
from resourcemanager.core.key_rotation import EncryptedColumn


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted column of every model with the first key of "
        "RM_ENCRYPTION_KEYS. Put the new key first, keep the old ones after it, restart every "
        "process, run this, then drop the old keys. Changes nothing unless every value can be "
        "re-encrypted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=key_rotation.DEFAULT_BATCH_SIZE,
            help="rows read and re-encrypted at a time (default %(default)s)",
        )

    def handle(self, *args, batch_size: int, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        tty = self.stdout.isatty()
        try:
            counts = key_rotation.rotate_all(batch_size, self._progress if tty else None)
        except key_rotation.RotationFailed as exc:
            if tty:
                self.stdout.write("")  # end the progress line
            raise CommandError(f"{exc}; nothing was changed") from None
        if not tty:  # a terminal saw the progress lines
            for label, count in counts.items():
                self.stdout.write(f"{label}: {count}")
        self.stdout.write(self.style.SUCCESS(
            f"re-encrypted {sum(counts.values())} secrets in {len(counts)} columns; every "
            "one decrypts with the first key"
        ))

    def _progress(self, column: EncryptedColumn, done: int, total: int) -> None:
        """One line per column, rewritten in place, on a terminal."""
        ending = "\n" if done >= total else ""
        self.stdout.write(f"\r{column.label}: {done}/{total}", ending=ending)
        self.stdout.flush()
