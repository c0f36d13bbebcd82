"""Give scopes new data keys and re-encrypt their secrets under them."""

from django.core.management.base import CommandError, CommandParser

from resourcemanager.core import key_rotation
from resourcemanager.core.datakeys import PLATFORM
from resourcemanager.core.errors import InvalidInput
from resourcemanager.core.validation import validate_scope
from resourcemanager.management.rekeying import RekeyCommand


class Command(RekeyCommand):
    help = (
        "Retire the data key of each scope named (--platform: the platform's, which "
        "encrypts provider passwords; --all: every scope and the platform) for a new one, "
        "and re-encrypt the scope's secrets under it. The retired key is destroyed by the "
        "next run once no value is under it. Changes nothing unless every value can be "
        "re-encrypted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("scopes", nargs="*", metavar="scope")
        parser.add_argument("--platform", action="store_true",
                            help="the platform's data key (provider passwords)")
        parser.add_argument("--all", action="store_true", dest="every",
                            help="every scope with secrets or a data key, and the platform")
        super().add_arguments(parser)

    def handle(self, *args, scopes: list[str], platform: bool, every: bool, batch_size: int,
               **options) -> None:
        if every and (scopes or platform):
            raise CommandError("--all names every scope: give no scope and no --platform")
        if not (every or scopes or platform):
            raise CommandError("name a scope, or give --platform or --all")
        try:
            chosen = [validate_scope(scope) for scope in scopes]
        except InvalidInput as exc:
            raise CommandError(exc.message) from None
        if unknown := sorted(set(chosen) - key_rotation.stored_scopes()):
            raise CommandError(f"no secret and no data key in scope(s) {', '.join(unknown)}")
        self.rekey(None if every else [*chosen, *([PLATFORM] if platform else [])],
                   fresh=True, batch_size=batch_size)
