"""Thin DRF permissions: they ask the access layer whether the request is allowed."""

from rest_framework.permissions import BasePermission

from resourcemanager.api.errors import ServiceException
from resourcemanager.core.errors import ServiceError
from resourcemanager.identity.principals import principal_of
from resourcemanager.identity.roles import require, require_member, resolve_scope


class ScopeRolePermission(BasePermission):
    """The view names the Action each of its actions needs in ``required_actions``.

    An action missing from that map is a programming error and fails closed (KeyError).
    A refusal (or a malformed scope) is raised as a DRF exception, which every renderer
    handles, the browsable API's forms included.
    """

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        if view.action is None:
            return True  # no handler for this method: DRF answers 405
        try:
            require(view.principal, view.required_actions[view.action], view.scope)
        except ServiceError as error:
            raise ServiceException(error) from error
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
            try:
                require_member(principal_of(request), resolve_scope(header_scope, path_scope))
            except ServiceError as error:
                raise ServiceException(error) from error
        return True
