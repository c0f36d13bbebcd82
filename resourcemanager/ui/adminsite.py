"""The admin site is the product's web UI: any active user with a role may enter.

What each user then sees and may do is decided per model admin by the access layer. The
index is a dashboard of the user's scopes (``resourcemanager.ui.dashboard``).
"""

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, URLResolver, path

from resourcemanager.identity import oidc
from resourcemanager.identity.principals import principal_of
from resourcemanager.resources.models import Resource
from resourcemanager.ui import dashboard
from resourcemanager.ui.adminscope import current_scope, switch_scope, switchable_scopes


class ResourceManagerAdminSite(admin.AdminSite):
    site_header = "resourcemanager"
    site_title = "resourcemanager"
    index_title = "Resources, providers and audit"
    # Any active local user may sign in; ``has_permission`` then admits those holding a
    # role (the stock admin form turns away everyone who is not staff).
    login_form = AuthenticationForm

    def has_permission(self, request) -> bool:
        user = request.user
        if not user.is_active or not user.is_authenticated:
            return False
        if user.is_staff:
            return True
        principal = principal_of(request)
        return principal is not None and bool(principal.roles)

    def admin_view(self, view: Callable, cacheable: bool = False) -> Callable:
        return super().admin_view(_selection_checked(view), cacheable)

    def get_urls(self) -> list[URLPattern | URLResolver]:
        own = [path("scope/", self.admin_view(switch_scope), name="switch_scope")]
        return own + super().get_urls()

    def each_context(self, request):
        context = super().each_context(request)
        context["oidc_login"] = oidc.enabled()
        context["local_login"] = settings.RM_LOCAL_LOGIN
        if context["has_permission"]:  # the header's scope switcher (base_site.html)
            context["rm_scopes"] = switchable_scopes(principal_of(request))
            context["rm_current_scope"] = current_scope(request)
        return context

    def index(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        """The dashboard of the user's scopes, with the app list beside it."""
        context = {
            "dashboard": dashboard.build(principal_of(request), current_scope(request)),
            # The same rule as the resource admin's own "Add" button.
            "can_add_resource": self._registry[Resource].has_add_permission(request),
            **(extra_context or {}),
        }
        return super().index(request, context)


def _selection_checked(view: Callable) -> Callable:
    """``view``; when it is a model admin's and is posted a bulk action's selection, every
    selected id must be one of that model's (a forged one would fail deep in the action):
    otherwise the list is shown again, saying so."""
    model_admin = getattr(view, "__self__", None)
    if not isinstance(model_admin, admin.ModelAdmin):
        return view

    @wraps(view)
    def checked(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        selection = (request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
                     if request.method == "POST" else [])
        # A list the user may not open refuses by itself, saying nothing on the next page.
        if selection and model_admin.has_view_or_change_permission(request):
            key = model_admin.model._meta.pk
            try:
                for selected in selection:
                    key.to_python(selected)
            except ValidationError:
                model_admin.message_user(request, "The selection names no such item; "
                                         "nothing was done.", messages.ERROR)
                return HttpResponseRedirect(request.get_full_path())
        return view(request, *args, **kwargs)

    return checked
