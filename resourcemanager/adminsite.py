"""The admin site is the product's web UI: any active user with a role may enter.

What each user then sees and may do is decided per model admin by the access layer.
"""

from django.conf import settings
from django.contrib import admin

from resourcemanager import oidc
from resourcemanager.identity import principal_of


class ResourceManagerAdminSite(admin.AdminSite):
    site_header = "resourcemanager"
    site_title = "resourcemanager"
    index_title = "Resources, providers and audit"

    def has_permission(self, request) -> bool:
        user = request.user
        if not user.is_active or not user.is_authenticated:
            return False
        if user.is_staff:
            return True
        principal = principal_of(request)
        return principal is not None and bool(principal.roles)

    def each_context(self, request):
        context = super().each_context(request)
        context["oidc_login"] = oidc.enabled()
        context["local_login"] = settings.RM_LOCAL_LOGIN
        return context
