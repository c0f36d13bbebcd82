"""Django's users and groups: platform configuration, for operators only."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group


class OperatorRowsOnly:
    """Platform rows exist only for operators: other users' lookups find nothing, so no
    page (history included) tells an existing id from a missing one."""

    @staticmethod
    def _is_operator(request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def get_queryset(self, request):
        rows = super().get_queryset(request)
        return rows if self._is_operator(request) else rows.none()


admin.site.unregister(get_user_model())
admin.site.unregister(Group)


@admin.register(get_user_model())
class OperatorUserAdmin(OperatorRowsOnly, UserAdmin):
    pass


@admin.register(Group)
class OperatorGroupAdmin(OperatorRowsOnly, GroupAdmin):
    pass
