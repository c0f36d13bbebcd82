"""What every admin shares: the access layer asked for a request's principal, bulk
actions that go through a service row by row, and an object's history."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest

from audit.models import AuditEntry
from resourcemanager.core.errors import ServiceError
from resourcemanager.identity.models import ScopeRole
from resourcemanager.identity.principals import principal_of
from resourcemanager.identity.roles import Action, Principal
from resourcemanager.resources.models import Credential, Resource
from resourcemanager.scopes.models import ScopeSettings
from resourcemanager.ui.adminscope import current_scope

#: Audit entries shown on an object's page.
HISTORY_LENGTH = 20


def can_anywhere(request: HttpRequest, action: Action) -> bool:
    principal = principal_of(request)
    return principal is not None and (principal.is_operator or bool(principal.scopes_for(action)))


def can_in_view(request: HttpRequest, action: Action) -> bool:
    """Whether ``action`` is allowed in a scope the admin shows: the current scope if one
    is chosen, else any of the principal's (for offering a list's bulk actions)."""
    scope = current_scope(request)
    if scope is None:
        return can_anywhere(request, action)
    principal = principal_of(request)
    return principal is not None and principal.can(action, scope)


def can_on(
    request: HttpRequest, action: Action,
    obj: Resource | Credential | ScopeRole | ScopeSettings | None,
) -> bool:
    if obj is None:
        return can_anywhere(request, action)
    principal = principal_of(request)
    return principal is not None and principal.can(action, obj.scope)


def users_shown(request: HttpRequest, fields: Sequence[str], users: Sequence[str]
                ) -> list[str]:
    """``fields`` of a read-only page as ``request``'s user sees them: a foreign key to a
    user (one of ``users``) links to the user's page, which only operators may open;
    anyone else reads the username, the admin's ``<field>_name`` display."""
    principal = principal_of(request)
    if principal is not None and principal.is_operator:
        return list(fields)
    return [f"{name}_name" if name in users else name for name in fields]


def username(user: AbstractBaseUser | None) -> str:
    return user.get_username() if user is not None else "-"


class ResourceRunPages:
    """Pages of a resource's runs (backups, cleanups, clones): seen by whoever may see the
    resource; made by the resource's actions, never added, changed or deleted here."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_on(request, Action.VIEW_RESOURCE, None)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_on(request, Action.VIEW_RESOURCE, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def apply_each(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    rows: Iterable[Any],
    operation: Callable[[Principal, Any], object],
) -> int:
    """Run a service ``operation`` on each row as the request's principal; a refused row
    is reported as an error message and the others still go through. How many did."""
    principal = principal_of(request)
    done = 0
    for row in rows:
        try:
            operation(principal, row)
        except ServiceError as exc:
            model_admin.message_user(request, f"{row}: {exc.message}", messages.ERROR)
        else:
            done += 1
    return done


def history(request: HttpRequest, obj: Resource | Credential) -> dict[str, Any]:
    """The page's ``rm_history`` (the latest audit entries of ``obj`` the user may read)
    and ``rm_history_complete`` (whether that is all of them, or the user's own only)."""
    principal = principal_of(request)
    entries = AuditEntry.objects.readable_by(principal, obj.scope).filter(
        target_type=obj._meta.model_name, target_id=str(obj.pk))
    return {
        "rm_history": entries[:HISTORY_LENGTH],
        "rm_history_complete": principal.can(Action.VIEW_ALL_AUDIT, obj.scope),
    }
