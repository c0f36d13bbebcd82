from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from resourcemanager.identity.tokens import issue_token


class Command(BaseCommand):
    help = "Issue a personal API token for a user; it is printed once and stored hashed."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="cli")
        parser.add_argument(
            "--expires-days",
            type=int,
            default=settings.RM_API_TOKEN_DEFAULT_DAYS,
            help="0 for a token that never expires",
        )

    def handle(self, *args, username, name, expires_days, **options):
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"no active user {username!r}")
        token, plaintext = issue_token(user, name, expires_in_days=expires_days or None)
        expiry = f"expires {token.expires_at:%Y-%m-%d}" if token.expires_at else "never expires"
        self.stderr.write(f"token {token.name!r} for {username} ({expiry}); shown once:")
        self.stdout.write(plaintext)
