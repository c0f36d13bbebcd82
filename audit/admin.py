from django.contrib import admin

from audit.models import AuditEntry, AuditQuerySet
from resourcemanager.identity.roles import Action, Principal
from resourcemanager.ui.admin.permissions import can_anywhere
from resourcemanager.ui.adminscope import CurrentScopeAdmin


@admin.register(AuditEntry)
class AuditEntryAdmin(CurrentScopeAdmin, admin.ModelAdmin):
    """Read-only. Operators see every scope, scope ADMINs their scopes' whole trail, other
    roles their own actions there (``AuditQuerySet.readable_by``). Filters and the date
    hierarchy draw their values from that queryset only."""

    list_display = [
        "timestamp", "actor", "scope", "action", "target", "outcome", "request_id", "message"
    ]
    list_filter = ["action", "outcome", "scope", ("timestamp", admin.DateFieldListFilter)]
    search_fields = ["actor", "target_name", "target_id", "request_id"]
    date_hierarchy = "timestamp"

    def visible_rows(self, principal: Principal | None, scope: str | None) -> AuditQuerySet:
        return AuditEntry.objects.readable_by(principal, scope)

    @admin.display(description="target", ordering="target_name")
    def target(self, entry: AuditEntry) -> str:
        return f"{entry.target_type} {entry.target_name}".strip()

    def has_module_permission(self, request):
        return can_anywhere(request, Action.VIEW_OWN_AUDIT)

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
