"""Django's users and groups: platform configuration, for operators only.

Every change to a user is audited: which fields changed, never their values (so never a
password).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group

from audit.models import AuditEntry
from audit.services import record


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


def _changed_fields(message: Any) -> str:
    """The field labels of an admin change message (``construct_change_message``)."""
    parts = message if isinstance(message, list) else []
    labels = [label for part in parts for label in part.get("changed", {}).get("fields", [])]
    return "changed: " + ", ".join(labels) if labels else ""


@admin.register(get_user_model())
class OperatorUserAdmin(OperatorRowsOnly, UserAdmin):
    """The admin logs additions and changes (password changes too) through these hooks."""

    def log_addition(self, request, obj, message):
        record(request.user.get_username(), "user.create", AuditEntry.Outcome.SUCCESS,
               target=obj)
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        record(request.user.get_username(), "user.change", AuditEntry.Outcome.SUCCESS,
               target=obj, message=_changed_fields(message))
        return super().log_change(request, obj, message)

    def delete_model(self, request, obj):
        record(request.user.get_username(), "user.delete", AuditEntry.Outcome.SUCCESS,
               target=obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for user in queryset:
            record(request.user.get_username(), "user.delete", AuditEntry.Outcome.SUCCESS,
                   target=user)
        super().delete_queryset(request, queryset)


@admin.register(Group)
class OperatorGroupAdmin(OperatorRowsOnly, GroupAdmin):
    pass
