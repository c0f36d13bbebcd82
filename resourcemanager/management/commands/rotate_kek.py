"""Re-wrap every data key under the current key-encryption key."""

from django.core.management.base import BaseCommand, CommandError

from resourcemanager.core import kek_rotation, key_rotation
from resourcemanager.core.key_rotation import RotationFailed
from resourcemanager.core.kms import KMSError


class Command(BaseCommand):
    help = (
        "Re-wrap every data key with the current key-encryption key of RM_KMS (local: the "
        "first key of RM_ENCRYPTION_KEYS; aws: RM_KMS_AWS_KEY_ID; vault: the latest version "
        "of RM_KMS_VAULT_KEY). Stored secrets are not touched. Keys wrapped by another "
        "backend move to RM_KMS. Changes nothing unless every key can be re-wrapped."
    )

    def handle(self, *args, **options) -> None:
        tty = self.stdout.isatty()
        try:
            count = kek_rotation.rewrap_all(self._progress if tty else None)
        except (RotationFailed, KMSError) as exc:
            if tty:
                self.stdout.write("")
            raise CommandError(f"{exc}; nothing was changed") from None
        self.stdout.write(self.style.SUCCESS(
            f"re-wrapped {count} data keys; every one unwraps with the current key"))
        if legacy := key_rotation.legacy_values():
            self.stdout.write(self.style.WARNING(
                f"{legacy} stored values are still under RM_ENCRYPTION_KEYS itself: run "
                "rotate_encryption_keys before dropping a key from it"))

    def _progress(self, done: int, total: int) -> None:
        ending = "\n" if done >= total else ""
        self.stdout.write(f"\rdata keys: {done}/{total}", ending=ending)
        self.stdout.flush()
