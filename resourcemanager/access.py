"""The access layer: who is acting, in which scope, and what the roles there allow.

Every door (API, admin, commands, tasks) asks this module; nothing else holds the
permission matrix (DESIGN §2). Querysets are narrowed with ``ScopedQuerySet.visible_to``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models

from resourcemanager.errors import Forbidden, InvalidInput
from resourcemanager.validation import validate_scope

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


class Role(models.TextChoices):
    ADMIN = "ADMIN", "Admin"
    RESOURCE_ADMIN = "RESOURCE_ADMIN", "Resource admin"
    CONSUMER_ADMIN = "CONSUMER_ADMIN", "Consumer admin"
    USER = "USER", "User"


class Action(StrEnum):
    VIEW_RESOURCE = "resource.view"
    CHECK_RESOURCE = "resource.check"
    MANAGE_RESOURCE = "resource.manage"
    VIEW_CONSUMER = "consumer.view"
    MANAGE_CONSUMER = "consumer.manage"
    VIEW_PROVIDER = "provider.view"
    VIEW_OWN_AUDIT = "audit.view_own"
    VIEW_ALL_AUDIT = "audit.view_all"
    MANAGE_MEMBERSHIP = "membership.manage"


_ALL_ROLES = frozenset(Role)

#: The permission matrix of DESIGN §2 (the original's ResourceRoleActionConverter).
MATRIX: Mapping[Action, frozenset[Role]] = {
    Action.VIEW_RESOURCE: _ALL_ROLES,
    Action.CHECK_RESOURCE: _ALL_ROLES,
    Action.MANAGE_RESOURCE: frozenset({Role.ADMIN, Role.RESOURCE_ADMIN}),
    Action.VIEW_CONSUMER: frozenset({Role.ADMIN, Role.CONSUMER_ADMIN, Role.USER}),
    Action.MANAGE_CONSUMER: frozenset({Role.ADMIN, Role.CONSUMER_ADMIN}),
    Action.VIEW_PROVIDER: _ALL_ROLES,
    Action.VIEW_OWN_AUDIT: _ALL_ROLES,
    Action.VIEW_ALL_AUDIT: frozenset({Role.ADMIN}),
    Action.MANAGE_MEMBERSHIP: frozenset({Role.ADMIN}),
}


@dataclass(frozen=True)
class Principal:
    """An authenticated actor with its roles per scope. Operators act in every scope."""

    name: str
    user_id: int | None = None
    is_operator: bool = False
    roles: Mapping[str, frozenset[Role]] = field(default_factory=dict)

    def roles_in(self, scope: str) -> frozenset[Role]:
        return self.roles.get(scope, frozenset())

    def member_of(self, scope: str) -> bool:
        """Holds any role in ``scope`` (operators: in every known scope)."""
        return scope_exists(scope) if self.is_operator else bool(self.roles_in(scope))

    def can(self, action: Action, scope: str) -> bool:
        if self.is_operator:
            return scope_exists(scope)
        return bool(self.roles_in(scope) & MATRIX[action])

    def scopes_for(self, action: Action) -> list[str]:
        """Scopes where ``action`` is allowed (operators: every role-holding scope known)."""
        return sorted(scope for scope in self.roles if self.can(action, scope))


#: The actor of scheduled sweeps and commands run by an operator on the server.
SYSTEM = Principal(name="system", is_operator=True)


def principal_for(
    user: AbstractBaseUser | AnonymousUser | None,
    claim_roles: Mapping[str, Iterable[str]] | None = None,
) -> Principal | None:
    """The principal of a Django user, or None when not authenticated.

    Roles are the user's local memberships plus ``claim_roles`` from the identity provider.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    from resourcemanager.models import ScopeRole

    roles: dict[str, set[Role]] = {}
    local = ScopeRole.objects.filter(user=user).values_list("scope", "role")
    claimed = [(scope, role) for scope, names in (claim_roles or {}).items() for role in names]
    for scope, role in [*local, *claimed]:
        if scope_exists(scope):
            roles.setdefault(scope, set()).add(Role(role))
    return Principal(
        name=user.get_username(),
        user_id=user.pk,
        is_operator=user.is_superuser,
        roles={scope: frozenset(found) for scope, found in roles.items()},
    )


def scope_exists(scope: str) -> bool:
    return not settings.RM_SCOPE_LIST or scope in settings.RM_SCOPE_LIST


def resolve_scope(header_scope: str | None, path_scope: str | None) -> str:
    """The request's scope: path prefix or ``X-Scope`` header, else the default scope."""
    if header_scope and path_scope and header_scope != path_scope:
        raise InvalidInput(
            "the X-Scope header and the /api/c/<scope>/ path name different scopes",
            code="scope_mismatch",
        )
    scope = validate_scope(path_scope or header_scope or settings.RM_DEFAULT_SCOPE)
    if not scope_exists(scope):
        raise Forbidden("you have no role in this scope")
    return scope


def require(principal: Principal | None, action: Action, scope: str) -> Principal:
    """Raise Forbidden unless ``principal`` may perform ``action`` in ``scope``."""
    if principal is None or not principal.can(action, scope):
        raise Forbidden("you have no role in this scope that allows this action")
    return principal


def require_member(principal: Principal | None, scope: str) -> Principal:
    """Raise Forbidden unless ``principal`` holds a role in ``scope``."""
    if principal is None or not principal.member_of(scope):
        raise Forbidden("you have no role in this scope")
    return principal


class ScopedQuerySet(models.QuerySet):
    """Querysets of scoped rows. ``visible_to`` is the one way to narrow them by access."""

    def visible_to(
        self, principal: Principal | None, action: Action, scope: str | None = None
    ) -> ScopedQuerySet:
        """Rows of ``scope`` (or of every scope) on which ``principal`` may do ``action``.

        Fails closed: no principal, or no role allowing the action, gives ``none()``.
        """
        if principal is None:
            return self.none()
        if scope is not None:
            return self.filter(scope=scope) if principal.can(action, scope) else self.none()
        if principal.is_operator:
            return self._in_known_scopes()
        return self.filter(scope__in=principal.scopes_for(action))

    def _in_known_scopes(self) -> ScopedQuerySet:
        if settings.RM_SCOPE_LIST:
            return self.filter(scope__in=settings.RM_SCOPE_LIST)
        return self.all()

