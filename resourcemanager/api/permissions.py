"""Thin DRF permission: asks the access layer whether the view's action is allowed."""

from rest_framework.permissions import BasePermission

from resourcemanager.access import require
from resourcemanager.api.errors import ServiceException
from resourcemanager.errors import ServiceError


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
