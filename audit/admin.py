from django.contrib import admin

from audit.models import AuditEntry
from resourcemanager.access import Action
from resourcemanager.identity import principal_of


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only. Operators see every scope; scope ADMINs their scopes' trail."""

    list_display = ["timestamp", "actor", "scope", "action", "target_name", "outcome", "message"]
    list_filter = ["outcome", "action", "scope"]
    search_fields = ["actor", "target_name", "target_id", "request_id"]
    date_hierarchy = "timestamp"

    def get_queryset(self, request):
        return AuditEntry.objects.visible_to(principal_of(request), Action.VIEW_ALL_AUDIT)

    def has_module_permission(self, request):
        principal = principal_of(request)
        return principal is not None and (
            principal.is_operator or bool(principal.scopes_for(Action.VIEW_ALL_AUDIT))
        )

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
