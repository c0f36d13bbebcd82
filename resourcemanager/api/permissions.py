"""Thin DRF permission: asks the access layer whether the view's action is allowed."""

from rest_framework.permissions import BasePermission

from resourcemanager.access import require


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
