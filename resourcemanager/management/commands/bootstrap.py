"""First start and every deploy: migrate, make sure an operator exists, sync providers."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from providers.services import sync_declared_providers
from resourcemanager.core.errors import ServiceError


class Command(BaseCommand):
    help = (
        "Apply migrations, create the operator account 'RM_ADMIN_USERNAME' (default admin) "
        "if missing, with RM_ADMIN_PASSWORD or a generated password printed once, and sync "
        "provider instances declared in the environment."
    )

    def handle(self, *args, **options):
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("database migrated")
        self._ensure_operator()
        try:
            declared = sync_declared_providers()
        except ServiceError as exc:
            raise CommandError(f"provider declarations: {exc.message}") from None
        for provider in declared:
            self.stdout.write(f"provider {provider.key} ({provider.provider_class}) declared")

    def _ensure_operator(self) -> None:
        username = os.environ.get("RM_ADMIN_USERNAME", "admin")
        users = get_user_model().objects
        if users.filter(username=username).exists():
            self.stdout.write(f"operator {username!r} exists")
            return
        password = os.environ.get("RM_ADMIN_PASSWORD") or secrets.token_urlsafe(18)
        users.create_superuser(username=username, email="", password=password)
        if os.environ.get("RM_ADMIN_PASSWORD"):
            self.stdout.write(f"operator {username!r} created with RM_ADMIN_PASSWORD")
        else:
            self.stdout.write(
                self.style.WARNING(
                    f"operator {username!r} created; password (shown once): {password}"
                )
            )
