"""Thin DRF permissions: they ask the access layer whether the request is allowed."""

from rest_framework.permissions import BasePermission

from audit.services import record_denied
from resourcemanager.access import require, require_member, resolve_scope
from resourcemanager.identity import principal_of
from resourcemanager.validation import SCOPE_RE


class ScopeRolePermission(BasePermission):
    """The view names the Action each of its actions needs in ``required_actions``.

    An action missing from that map is a programming error and fails closed (KeyError).
    """

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        if view.action is None:
            return True  # no handler for this method: DRF answers 405
        require(view.principal, view.required_actions[view.action], view.scope)
        return True


class NamedScopeMembership(BasePermission):
    """For views about the caller only (tokens, permissions), which serve no scope's data.

    A request that names a scope (``/api/c/<scope>/`` or ``X-Scope``) is refused unless
    the caller holds a role there, as every request in a scope is; naming none is fine.
    """

    def has_permission(self, request, view) -> bool:
        header_scope = request.headers.get("X-Scope")
        path_scope = view.kwargs.get("scope")
        if header_scope or path_scope:
            require_member(principal_of(request), resolve_scope(header_scope, path_scope))
        return True


def audit_refusal(request, view, status: int, message: str) -> None:
    """Note a refused API request (401, 403) as DENIED: who, in which scope, doing what.

    ``record_denied`` keeps one entry per actor, scope and action a minute.
    """
    user = getattr(request, "user", None)
    actor = user.get_username() if user is not None and user.is_authenticated else "anonymous"
    named = (getattr(view, "kwargs", None) or {}).get("scope") or request.headers.get("X-Scope")
    scope = named if named and SCOPE_RE.fullmatch(named) else ""
    action = getattr(view, "required_actions", {}).get(getattr(view, "action", None))
    record_denied(
        actor,
        str(action or f"api.{request.method.lower()}"),
        scope=scope,
        message=f"{status} {request.method} {request.path[:200]}: {message}",
    )
