"""Move every stored secret under its scope's current data key."""

from resourcemanager.management.rekeying import RekeyCommand


class Command(RekeyCommand):
    help = (
        "Re-encrypt every stored secret that is not under its scope's current data key "
        "(the platform's for provider passwords): values written before per-scope keys, "
        "under RM_ENCRYPTION_KEYS, among them. Run it once after upgrading, and before "
        "dropping a key from RM_ENCRYPTION_KEYS. Destroys data keys retired by earlier "
        "rotations once no value is under them. Changes nothing unless every value can be "
        "re-encrypted."
    )

    def handle(self, *args, batch_size: int, **options) -> None:
        self.rekey(None, fresh=False, batch_size=batch_size)
