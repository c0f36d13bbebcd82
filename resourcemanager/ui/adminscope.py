"""The admin's current scope, chosen in the header of every page (``base_site.html``).

It only narrows: every scoped admin (``CurrentScopeAdmin``) and the dashboard pass it as
``scope=`` to the access layer, which still decides what the principal may see there. The
scope kept in the session is checked against the principal on every request, so a role
that has gone since the choice falls back to all the user's scopes.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from resourcemanager.core.validation import SCOPE_RE
from resourcemanager.identity.models import ScopeRole
from resourcemanager.identity.principals import principal_of
from resourcemanager.identity.querysets import ScopedQuerySet
from resourcemanager.identity.roles import Action, Principal
from resourcemanager.resources.models import Resource

SESSION_KEY = "rm_admin_scope"


def may_enter(principal: Principal | None, scope: object) -> bool:
    """Whether ``principal`` may narrow the admin to ``scope``: it holds a role there (every
    role may view the scope's resources), or it is an operator and the scope exists."""
    return (
        principal is not None
        and isinstance(scope, str)
        and SCOPE_RE.fullmatch(scope) is not None
        and principal.can(Action.VIEW_RESOURCE, scope)
    )


def switchable_scopes(principal: Principal | None) -> list[str]:
    """The scopes the header offers, sorted: those the principal holds a role in; for
    operators also every scope of ``RM_SCOPE_LIST``, of resources and of memberships
    (one query)."""
    if principal is None:
        return []
    scopes = set(principal.roles)
    if principal.is_operator:
        scopes.update(settings.RM_SCOPE_LIST)
        scopes.update(
            Resource.objects.visible_to(principal, Action.VIEW_RESOURCE)
            .order_by().values_list("scope", flat=True)
            .union(ScopeRole.objects.visible_to(principal, Action.MANAGE_MEMBERSHIP)
                   .order_by().values_list("scope", flat=True))
        )
    return sorted(scope for scope in scopes if may_enter(principal, scope))


def current_scope(request: HttpRequest) -> str | None:
    """The scope the admin is narrowed to, or None for all the user's scopes.

    A stored scope the principal may no longer enter is dropped, never an error.
    """
    if not hasattr(request, "_rm_admin_scope"):
        session = getattr(request, "session", None)
        scope = session.get(SESSION_KEY) if session is not None else None
        if scope is not None and not may_enter(principal_of(request), scope):
            del session[SESSION_KEY]
            scope = None
        request._rm_admin_scope = scope
    return request._rm_admin_scope


def switch_scope(request: HttpRequest) -> HttpResponse:
    """POST ``scope`` (empty: all my scopes) and ``next``: keep the choice in the session,
    then go back to ``next`` if it is a local URL, else to the index."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    scope = request.POST.get("scope", "")
    if not scope:
        request.session.pop(SESSION_KEY, None)
    elif scope in switchable_scopes(principal_of(request)):
        request.session[SESSION_KEY] = scope
    else:  # not echoed: the page would otherwise repeat whatever was posted
        messages.error(request, "You hold no role in that scope; the view is unchanged.")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("admin:index")
    return HttpResponseRedirect(target)


class CurrentScopeAdmin:
    """A model admin of scoped rows: its lists and pages hold the current scope's rows that
    the principal may do ``view_action`` on (all its scopes' when none is chosen)."""

    view_action: Action

    def get_queryset(self, request: HttpRequest) -> ScopedQuerySet:
        return self.visible_rows(principal_of(request), current_scope(request))

    def visible_rows(self, principal: Principal | None, scope: str | None) -> ScopedQuerySet:
        return self.model.objects.visible_to(principal, self.view_action, scope)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, str]:
        """New rows start in the current scope."""
        initial = super().get_changeform_initial_data(request)
        scope = current_scope(request)
        return {"scope": scope, **initial} if scope else initial
