"""Who is acting: users and roles per scope from identity-provider claims.

Roles come from the claim values configured by RM_ROLES_CLAIM and RM_ROLE_MAPPING_*.
Those of a user's last sign-in or accepted access token are also kept on its external
identity for RM_CLAIM_ROLES_MAX_AGE, so that its personal API tokens act with them while
they are fresh (on top of local memberships, which always count).

A claim value such as ``resourcemanager/team-a:ROLE_ADMIN`` matches the template
``resourcemanager/<scope>:ROLE_ADMIN`` and grants ADMIN in ``team-a``. An optional prefix
(the original's component prefix, e.g. ``components/``) is put before every template.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from resourcemanager.core.validation import SCOPE_RE
from resourcemanager.identity.access import principal_for
from resourcemanager.identity.models import ApiToken, ExternalIdentity
from resourcemanager.identity.roles import Principal, Role

_SCOPE_PLACEHOLDER = "<scope>"
_SCOPE_PATTERN = SCOPE_RE.pattern.removeprefix("^").removesuffix("$")

ClaimRoles = dict[str, frozenset[Role]]


@cache
def _compiled(prefix: str, templates: tuple[tuple[str, str], ...]) -> list[tuple[Role, re.Pattern]]:
    compiled = []
    for role_name, template in templates:
        if not template:
            continue  # an empty template maps no claim to this role
        literal_parts = (prefix + template).split(_SCOPE_PLACEHOLDER)
        pattern = f"(?P<scope>{_SCOPE_PATTERN})".join(re.escape(p) for p in literal_parts)
        compiled.append((Role(role_name), re.compile(pattern)))
    return compiled


def claim_values(claims: Mapping[str, Any], claim: str) -> list[str]:
    """String values of ``claim``; a dotted name reaches into objects (``realm_access.roles``)."""
    value: Any = claims
    for part in claim.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, str):
        return value.split()
    if isinstance(value, Iterable):
        return [item for item in value if isinstance(item, str)]
    return []


def roles_from_claims(claims: Mapping[str, Any]) -> ClaimRoles:
    """Scope → roles granted by the configured claim of an identity provider's token."""
    templates = tuple(settings.RM_ROLE_MAPPING.items())
    mappings = _compiled(settings.RM_ROLES_PREFIX, templates)
    found: dict[str, set[Role]] = {}
    for value in claim_values(claims, settings.RM_ROLES_CLAIM):
        for role, pattern in mappings:
            if match := pattern.fullmatch(value):
                found.setdefault(match["scope"], set()).add(role)
    return {scope: frozenset(roles) for scope, roles in found.items()}


# --- users from an identity provider ---------------------------------------------------

SESSION_ROLES_KEY = "rm_claim_roles"
_LAST_SEEN_RESOLUTION = timedelta(minutes=1)
_USERNAME_CLAIMS = ("preferred_username", "email", "sub")
_USERNAME_RE = re.compile(r"[^\w.@+-]")


def user_for_claims(issuer: str, claims: Mapping[str, Any]) -> AbstractBaseUser:
    """The local user linked to the provider's subject, created on first sight.

    Users are matched by (issuer, subject) only, never by e-mail or username, so an
    identity-provider account can never take over a local one.
    """
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise ValueError("claims carry no subject")
    link = ExternalIdentity.objects.select_related("user").filter(
        issuer=issuer, subject=subject
    ).first()
    if link is None:
        try:
            with transaction.atomic():
                user = get_user_model().objects.create_user(
                    username=_free_username(claims), email=str(claims.get("email") or "")
                )
                link = ExternalIdentity.objects.create(user=user, issuer=issuer, subject=subject)
        except IntegrityError:  # a concurrent first login linked it
            link = ExternalIdentity.objects.select_related("user").get(
                issuer=issuer, subject=subject
            )
    elif timezone.now() - link.last_seen_at > _LAST_SEEN_RESOLUTION:
        link.save(update_fields=["last_seen_at"])  # not on every API call
    return link.user


def _free_username(claims: Mapping[str, Any]) -> str:
    base = next((str(claims[c]) for c in _USERNAME_CLAIMS if claims.get(c)), "user")
    base = _USERNAME_RE.sub("-", base)[:140] or "user"
    users = get_user_model().objects
    candidate, counter = base, 1
    while users.filter(username=candidate).exists():
        counter += 1
        candidate = f"{base}-{counter}"
    return candidate


def _role_names(claims: Mapping[str, Any]) -> dict[str, list[str]]:
    return {scope: sorted(roles) for scope, roles in roles_from_claims(claims).items()}


def remember_claim_roles(
    session: SessionBase, user: AbstractBaseUser, claims: Mapping[str, Any]
) -> None:
    """Keep the roles of a browser login for the session's lifetime, and for the user's
    personal API tokens while they are fresh."""
    session[SESSION_ROLES_KEY] = _role_names(claims)
    store_claim_roles(user, claims)


def store_claim_roles(user: AbstractBaseUser, claims: Mapping[str, Any]) -> None:
    """Note the roles of an accepted sign-in or access token on the user's external identity.

    Written only when the roles change or their expiry moves by more than a minute, not on
    every API call.
    """
    try:
        link = user.external_identity
    except ObjectDoesNotExist:
        return
    roles = _role_names(claims)
    until = timezone.now() + timedelta(seconds=settings.RM_CLAIM_ROLES_MAX_AGE)
    current = link.claim_roles_until
    if link.claim_roles == roles and current and until - current < _LAST_SEEN_RESOLUTION:
        return
    link.claim_roles, link.claim_roles_until = roles, until
    link.save(update_fields=["claim_roles", "claim_roles_until"])


def fresh_claim_roles(user: AbstractBaseUser) -> dict[str, list[str]]:
    """The stored claim roles of ``user`` while fresh, else none. Its external identity
    is read unless it came with the user (``authenticate_token`` brings it)."""
    try:
        link = user.external_identity
    except ObjectDoesNotExist:
        return {}
    until = link.claim_roles_until
    if until is None or until <= timezone.now():
        return {}
    return link.claim_roles if isinstance(link.claim_roles, dict) else {}


def principal_of(request: HttpRequest) -> Principal | None:
    """The acting principal of a web request: local roles plus the provider's claims.

    API bearer tokens of the provider carry their claims (``request.auth.claims``);
    personal API tokens act with the user's fresh stored claim roles, and bring its local
    memberships (``authenticate_token``); browser sessions keep the roles of their login.
    Computed once per request.
    """
    if not hasattr(request, "_rm_principal"):
        auth = getattr(request, "auth", None)
        claims = getattr(auth, "claims", None)
        local_roles = None
        if claims is not None:
            claim_roles: Mapping[str, Iterable[str]] = roles_from_claims(claims)
        elif isinstance(auth, ApiToken):
            claim_roles = fresh_claim_roles(request.user)
            local_roles = auth.scope_roles
        else:
            claim_roles = getattr(request, "session", {}).get(SESSION_ROLES_KEY, {})
        request._rm_principal = principal_for(request.user, claim_roles, local_roles)
    return request._rm_principal
