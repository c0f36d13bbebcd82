"""Re-encrypt every stored secret with the first key of RM_ENCRYPTION_KEYS."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from providers.models import Provider
from resourcemanager import crypto
from resourcemanager.models import Resource

#: (model, encrypted column) pairs holding secrets.
ENCRYPTED_COLUMNS = [(Resource, "credentials"), (Provider, "password")]


class Command(BaseCommand):
    help = (
        "Re-encrypt all credentials with the first key of RM_ENCRYPTION_KEYS. Put the new key "
        "first, keep the old ones after it, run this, then drop the old keys."
    )

    def handle(self, *args, **options):
        total = 0
        try:
            with transaction.atomic():
                for model, column in ENCRYPTED_COLUMNS:
                    total += self._rotate(model, column)
        except crypto.DecryptionError as exc:
            raise CommandError(f"{exc}; nothing was changed") from None
        self.stdout.write(self.style.SUCCESS(f"re-encrypted {total} secrets"))

    def _rotate(self, model, column: str) -> int:
        """Reading decrypts with any configured key; writing encrypts with the first."""
        count = 0
        rows = model.objects.select_for_update().values_list("pk", column)
        for pk, secret in rows.iterator():
            if secret:
                model.objects.filter(pk=pk).update(**{column: secret})
                count += 1
        self.stdout.write(f"{model._meta.verbose_name_plural}: {count}")
        return count
