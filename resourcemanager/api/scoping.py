"""What every scoped API view shares: its scope and the acting principal."""

from functools import cached_property

from rest_framework.request import Request
from rest_framework.views import APIView

from resourcemanager.api.permissions import ScopeRolePermission
from resourcemanager.identity.principals import principal_of
from resourcemanager.identity.roles import Action, Principal, resolve_scope
from resourcemanager.resources import services
from resourcemanager.resources.models import Resource


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


class ScopedAPIView(ScopedViewMixin, APIView):
    """A scoped view of plain methods: ``required_actions`` maps each method (``get`` …)
    to the Action it needs."""

    def initial(self, request: Request, *args, **kwargs) -> None:
        """The method is the action the permission reads; None (405) for undeclared ones."""
        method = request.method.lower()
        self.action = method if method in self.required_actions else None
        super().initial(request, *args, **kwargs)


class OfResourceMixin:
    """For views under ``/resources/{resource_pk}/`` (after a scoped view class): the
    resource, if the principal may see it in the request's scope, else a 404."""

    @cached_property
    def resource(self) -> Resource:
        return services.get_resource(self.principal, self.scope, self.kwargs["resource_pk"])
