"""The access rules: the roles, the actions they allow (the permission matrix), the
principal acting and the scope it acts in.

Every door (API, admin, commands, tasks) asks these rules; nothing else holds the
permission matrix (the README's Roles table). Plain values only: this module reads no
models, so that the models may use it (``resourcemanager.identity.access`` builds a principal from
memberships, ``resourcemanager.identity.querysets`` narrows querysets with it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from django.conf import settings
from django.db import models

from resourcemanager.core.errors import Forbidden, InvalidInput
from resourcemanager.core.validation import validate_scope


class Role(models.TextChoices):
    ADMIN = "ADMIN", "Admin"
    RESOURCE_ADMIN = "RESOURCE_ADMIN", "Resource admin"
    CONSUMER_ADMIN = "CONSUMER_ADMIN", "Consumer admin"
    USER = "USER", "User"


class Action(StrEnum):
    VIEW_RESOURCE = "resource.view"
    CHECK_RESOURCE = "resource.check"
    MANAGE_RESOURCE = "resource.manage"
    VIEW_CREDENTIAL = "credential.view"
    MANAGE_CREDENTIAL = "credential.manage"
    VIEW_CONSUMER = "consumer.view"
    MANAGE_CONSUMER = "consumer.manage"
    VIEW_PROVIDER = "provider.view"
    VIEW_OWN_AUDIT = "audit.view_own"
    VIEW_ALL_AUDIT = "audit.view_all"
    MANAGE_MEMBERSHIP = "membership.manage"
    VIEW_SCOPE_SETTINGS = "scope_settings.view"
    MANAGE_SCOPE_SETTINGS = "scope_settings.manage"
    VIEW_QUOTA = "quota.view"
    #: No role: platform operators only.
    MANAGE_QUOTA = "quota.manage"


_ALL_ROLES = frozenset(Role)

#: The permission matrix (the README's Roles table).
MATRIX: Mapping[Action, frozenset[Role]] = {
    Action.VIEW_RESOURCE: _ALL_ROLES,
    Action.CHECK_RESOURCE: _ALL_ROLES,
    Action.MANAGE_RESOURCE: frozenset({Role.ADMIN, Role.RESOURCE_ADMIN}),
    Action.VIEW_CREDENTIAL: frozenset({Role.ADMIN, Role.RESOURCE_ADMIN}),
    Action.MANAGE_CREDENTIAL: frozenset({Role.ADMIN, Role.RESOURCE_ADMIN}),
    Action.VIEW_CONSUMER: frozenset({Role.ADMIN, Role.CONSUMER_ADMIN, Role.USER}),
    Action.MANAGE_CONSUMER: frozenset({Role.ADMIN, Role.CONSUMER_ADMIN}),
    Action.VIEW_PROVIDER: _ALL_ROLES,
    Action.VIEW_OWN_AUDIT: _ALL_ROLES,
    Action.VIEW_ALL_AUDIT: frozenset({Role.ADMIN}),
    Action.MANAGE_MEMBERSHIP: frozenset({Role.ADMIN}),
    Action.VIEW_SCOPE_SETTINGS: _ALL_ROLES,
    Action.MANAGE_SCOPE_SETTINGS: frozenset({Role.ADMIN}),
    Action.VIEW_QUOTA: _ALL_ROLES,
    Action.MANAGE_QUOTA: frozenset(),
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
        raise Forbidden(needed_role(action))
    return principal


def needed_role(action: Action) -> str:
    """What a refusal of ``action`` says: the roles that allow it (the public matrix)."""
    roles = [role.value for role in Role if role in MATRIX[action]]
    if not roles:
        return "only platform operators may do this"
    return f"this needs the role {' or '.join(roles)} in this scope"


def require_member(principal: Principal | None, scope: str) -> Principal:
    """Raise Forbidden unless ``principal`` holds a role in ``scope``."""
    if principal is None or not principal.member_of(scope):
        raise Forbidden("you have no role in this scope")
    return principal
