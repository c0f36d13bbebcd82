"""What every scoped API view shares: its scope and the acting principal."""

from functools import cached_property

from resourcemanager.api.permissions import ScopeRolePermission
from resourcemanager.identity.principals import principal_of
from resourcemanager.identity.roles import Action, Principal, resolve_scope


class ScopedViewMixin:
    """Resolves the request's scope (path, header or default) and principal once."""

    permission_classes = (ScopeRolePermission,)
    required_actions: dict[str, Action] = {}

    @cached_property
    def scope(self) -> str:
        return resolve_scope(self.request.headers.get("X-Scope"), self.kwargs.get("scope"))

    @cached_property
    def principal(self) -> Principal | None:
        return principal_of(self.request)
