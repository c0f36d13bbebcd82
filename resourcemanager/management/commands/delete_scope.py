"""Delete a scope and destroy its data keys (crypto-shredding)."""

import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

from resourcemanager.core.errors import ServiceError
from resourcemanager.erasure import deletion
from resourcemanager.identity.roles import SYSTEM


class Command(BaseCommand):
    help = (
        "Delete a scope: its credentials, consumers, settings and memberships are removed "
        "and its data keys destroyed, so copies of its secrets can no longer be decrypted "
        "(dumps from before: once the KEK is rotated and the old one destroyed). Refused "
        "while the scope has resources, unless --delete-resources, which asks for their "
        "deletion first (run the command again once the workers have deleted them). "
        "Audited as the system."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("scope")
        parser.add_argument("--delete-resources", action="store_true",
                            help="first ask for the deletion of the scope's resources")
        parser.add_argument("--yes", action="store_true",
                            help="do not ask for confirmation")

    def handle(self, *args, scope: str, delete_resources: bool, yes: bool, **options) -> None:
        try:
            live = deletion.live_resources(scope)
            if live and not delete_resources:
                raise CommandError(
                    f"scope {scope} still has {len(live)} resource(s); run delete_scope "
                    f"{scope} --delete-resources to delete them first")
            self._confirm(scope, len(live), yes)
            if live:
                asked = deletion.request_resource_deletions(SYSTEM, scope)
                self.stdout.write(f"deletion of {asked} resource(s) requested")
                if left := deletion.live_resources(scope):
                    raise CommandError(
                        f"{len(left)} resource(s) of scope {scope} are not deleted yet; run "
                        f"delete_scope {scope} again once the workers have deleted them")
            done = deletion.delete_scope(SYSTEM, scope)
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(self.style.SUCCESS(
            f"scope {done.scope} deleted: removed {', '.join(done.removed)}; "
            f"{done.destroyed_keys} data key(s) destroyed"))

    def _confirm(self, scope: str, resources: int, yes: bool) -> None:
        if yes:
            return
        if not self.stdin_isatty():
            raise CommandError("confirm with --yes (no terminal to ask on)")
        extra = f" and its {resources} resource(s)" if resources else ""
        answer = input(f"Delete scope {scope}{extra}, destroying its data keys? Its secrets "
                       f"cannot be recovered afterwards. Type the scope's name to confirm: ")
        if answer.strip() != scope:
            raise CommandError("not confirmed; nothing was deleted")

    @staticmethod
    def stdin_isatty() -> bool:
        return sys.stdin.isatty()
