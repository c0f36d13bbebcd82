"""A scope's settings: read by every member, changed by the scope's ADMIN, audited."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from audit.models import AuditEntry
from audit.services import record
from resourcemanager.core.errors import InvalidInput
from resourcemanager.core.validation import validate_scope, validate_seconds
from resourcemanager.identity.roles import Action, Principal, require
from resourcemanager.scopes.models import ScopeSettings

#: The shortest lifetime a credential may be given, in seconds.
MIN_TTL = 60
EDITABLE = ("credential_self_service", "credential_default_ttl", "credential_max_ttl")


def settings_of(scope: str) -> ScopeSettings:
    """The scope's settings; the defaults (unsaved) when never changed."""
    return ScopeSettings.objects.filter(scope=scope).first() or ScopeSettings(scope=scope)


def credential_ceiling(scope_settings: ScopeSettings) -> int | None:
    """The longest ``ttl`` or ``max_ttl`` a credential of the scope may have, in seconds;
    None: no ceiling."""
    server = settings.RM_CREDENTIAL_MAX_TTL or None
    own = scope_settings.credential_max_ttl
    return min(filter(None, (server, own)), default=None)


def view_settings(principal: Principal | None, scope: str) -> ScopeSettings:
    require(principal, Action.VIEW_SCOPE_SETTINGS, scope)
    return settings_of(scope)


def check_settings(principal: Principal | None, scope: str, **changes: object) -> None:
    """Refuse what ``update_settings`` would refuse, changing nothing (for forms)."""
    require(principal, Action.MANAGE_SCOPE_SETTINGS, validate_scope(scope))
    _with_changes(settings_of(scope), changes)


def update_settings(principal: Principal | None, scope: str, **changes: object) -> ScopeSettings:
    """Change the named settings (``EDITABLE``); a null TTL setting goes back to the
    default. Refuses anything invalid with nothing changed."""
    require(principal, Action.MANAGE_SCOPE_SETTINGS, validate_scope(scope))
    with transaction.atomic():
        current = _with_changes(
            ScopeSettings.objects.select_for_update().filter(scope=scope).first()
            or ScopeSettings(scope=scope), changes)
        current.updated_by = principal.name
        current.save()
        record(principal.name, "scope.settings", AuditEntry.Outcome.SUCCESS, scope=scope,
               target=current, message=", ".join(
                   f"{name}={getattr(current, name)!r}" for name in sorted(changes)))
    return current


def _with_changes(current: ScopeSettings, changes: dict[str, object]) -> ScopeSettings:
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise InvalidInput(f"no such setting: {', '.join(sorted(unknown))}",
                           field=sorted(unknown)[0])
    for name, value in changes.items():
        setattr(current, name, value)
    _validate(current)
    return current


def _validate(scope_settings: ScopeSettings) -> None:
    if scope_settings.credential_self_service not in ScopeSettings.SelfService.values:
        raise InvalidInput("credential_self_service is off (empty), read-only or read-write",
                           field="credential_self_service")
    server = settings.RM_CREDENTIAL_MAX_TTL or None
    for name in ("credential_max_ttl", "credential_default_ttl"):
        value = getattr(scope_settings, name)
        if value is None:
            continue
        ceiling = server if name == "credential_max_ttl" else credential_ceiling(scope_settings)
        validate_seconds(value, name, minimum=MIN_TTL, maximum=ceiling)
