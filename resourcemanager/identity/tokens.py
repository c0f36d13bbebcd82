"""Personal API tokens: issued once in the clear, stored as SHA-256 digests."""

import secrets
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F
from django.utils import timezone

from audit.models import AuditEntry
from audit.services import record
from resourcemanager.identity.models import ApiToken

_LAST_USED_RESOLUTION = timedelta(minutes=1)


def issue_token(
    user: AbstractBaseUser, name: str, *, expires_in_days: int | None
) -> tuple[ApiToken, str]:
    """Create a token and return it with its plaintext, which is never stored."""
    plaintext = ApiToken.PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        digest=ApiToken.digest_of(plaintext),
        hint=plaintext[:10],
        expires_at=(
            timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        ),
    )
    record(user.get_username(), "token.issue", AuditEntry.Outcome.SUCCESS, target=token)
    return token, plaintext


def authenticate_token(plaintext: str) -> ApiToken | None:
    """The usable token matching ``plaintext`` (its last use noted), else None.

    One read tells who is acting: the token with its user, the user's external identity
    (claim roles) if any, and its local memberships as ``token.scope_roles`` (scope, role)
    pairs, a row per membership.
    """
    rows = list(
        ApiToken.objects.usable()
        .select_related("user__external_identity")
        .filter(digest=ApiToken.digest_of(plaintext), user__is_active=True)
        .annotate(role_scope=F("user__scope_roles__scope"),
                  role_name=F("user__scope_roles__role"))
    )
    if not rows:
        return None
    token = rows[0]
    token.scope_roles = [(row.role_scope, row.role_name) for row in rows
                         if row.role_scope is not None]
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_RESOLUTION:
        token.last_used_at = now
        token.save(update_fields=["last_used_at"])
    return token


def revoke_token(actor: str, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record(actor, "token.revoke", AuditEntry.Outcome.SUCCESS, target=token)
