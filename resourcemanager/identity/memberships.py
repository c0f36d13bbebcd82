"""Local scope memberships (ScopeRole), under the rules of role management.

Operators manage every scope. A scope's ADMINs manage that scope's memberships, but never
their own, never above their own role, and never in a scope they do not administer; the
last local ADMIN of a scope cannot be removed or demoted.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from audit.models import AuditEntry
from audit.services import record, record_denied
from resourcemanager.core.errors import Conflict, Forbidden, InvalidInput
from resourcemanager.core.validation import validate_scope
from resourcemanager.identity.models import ScopeRole
from resourcemanager.identity.roles import Action, Principal, Role, require

#: Higher number, more rights. RESOURCE_ADMIN and CONSUMER_ADMIN are peers.
RANK = {Role.USER: 0, Role.RESOURCE_ADMIN: 1, Role.CONSUMER_ADMIN: 1, Role.ADMIN: 2}


#: Every refused grant says this, whatever the reason, so that it never tells whether a
#: username exists.
GRANT_REFUSED = (
    "this grant is not allowed: no active user by this name, or the membership rules "
    "forbid it"
)


def check_grant(
    principal: Principal | None, username: str, scope: str, role: str
) -> tuple[AbstractBaseUser, str, Role]:
    """Validate a grant without making it; returns the user, normalized scope and role.

    A refusal is recorded as DENIED and answered with ``GRANT_REFUSED``.
    """
    scope = validate_scope(scope)
    try:
        checked_role = Role(role)
    except ValueError:
        raise InvalidInput(f"unknown role {role!r}", code="invalid_role", field="role") from None
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    try:
        if user is None:
            raise Forbidden(GRANT_REFUSED)
        _require_manager(principal, user, scope, checked_role)
    except Forbidden:
        actor = principal.name if principal is not None else "anonymous"
        record_denied(actor, "membership.grant", scope=scope,
                      message=f"refused: {checked_role} for {username[:150]!r}")
        raise Forbidden(GRANT_REFUSED) from None
    return user, scope, checked_role


def grant_role(
    principal: Principal, user: AbstractBaseUser, scope: str, role: str
) -> ScopeRole:
    user, scope, role = check_grant(principal, user.get_username(), scope, role)
    with transaction.atomic():
        membership, created = ScopeRole.objects.get_or_create(user=user, scope=scope, role=role)
        if created:
            record(principal.name, "membership.grant", AuditEntry.Outcome.SUCCESS, scope=scope,
                   target=membership)
    return membership


def revoke_role(principal: Principal, membership: ScopeRole) -> None:
    with transaction.atomic():
        _check_revoke(principal, membership, lock=True)
        record(principal.name, "membership.revoke", AuditEntry.Outcome.SUCCESS,
               scope=membership.scope, target=membership)
        membership.delete()


def can_revoke(principal: Principal | None, membership: ScopeRole) -> bool:
    """Whether ``revoke_role`` would be allowed (for showing or hiding the button)."""
    return revoke_refusal(principal, membership) is None


def revoke_refusal(principal: Principal | None, membership: ScopeRole) -> str | None:
    """What ``revoke_role`` would answer refusing ``membership``; None if it would not."""
    try:
        _check_revoke(principal, membership)
    except (Forbidden, Conflict) as refusal:
        return refusal.message
    return None


def _check_revoke(principal: Principal | None, membership: ScopeRole, lock: bool = False):
    _require_manager(principal, membership.user, membership.scope, Role(membership.role))
    admins = ScopeRole.objects.filter(scope=membership.scope, role=Role.ADMIN)
    if lock:
        admins = admins.select_for_update()
    if membership.role == Role.ADMIN and len(admins) <= 1:
        raise Conflict("the last ADMIN of a scope cannot be removed", code="last_admin")


def _require_manager(
    principal: Principal | None, user: AbstractBaseUser, scope: str, role: Role
) -> None:
    require(principal, Action.MANAGE_MEMBERSHIP, scope)
    if principal.is_operator:
        return
    if user.pk == principal.user_id:
        raise Forbidden("nobody changes their own roles")
    own_rank = max((RANK[r] for r in principal.roles_in(scope)), default=-1)
    if RANK[role] > own_rank:
        raise Forbidden("nobody grants a role above their own")
