"""Backup schedules: seen by the scope's members, set and removed by RESOURCE_ADMIN and
ADMIN through the schedule services (audited)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from resourcemanager.backups import schedules
from resourcemanager.backups.models import BackupSchedule
from resourcemanager.core.errors import ServiceError
from resourcemanager.identity.principals import principal_of
from resourcemanager.identity.roles import Action
from resourcemanager.resources.models import Resource
from resourcemanager.ui.admin.permissions import can_anywhere, can_on
from resourcemanager.ui.admin.refusals import ServiceSaveAdmin
from resourcemanager.ui.adminscope import CurrentScopeAdmin, current_scope

EDITABLE = ("interval", "hours", "keep_daily", "keep_weekly")


class BackupScheduleForm(forms.ModelForm):
    class Meta:
        model = BackupSchedule
        fields = ["resource", *EDITABLE]
        help_texts = {
            "hours": "Hours between two backups, for the interval 'hours' only.",
            "keep_daily": "The newest backup of each of the last N days that have one is kept.",
            "keep_weekly": "The newest backup of each of the last M ISO weeks that have one "
            "is kept.",
        }

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        resource = data.get("resource") or self.instance.resource
        if self.instance.pk is None and BackupSchedule.objects.filter(resource=resource).exists():
            raise ValidationError("this resource has a schedule already: change it there")
        try:
            schedules.check_schedule(principal_of(self.request), resource,
                                     **{name: data.get(name) for name in EDITABLE})
        except ServiceError as exc:
            raise ValidationError(exc.message) from None
        return data


@admin.register(BackupSchedule)
class BackupScheduleAdmin(ServiceSaveAdmin, CurrentScopeAdmin, admin.ModelAdmin):
    view_action = Action.VIEW_RESOURCE
    form = BackupScheduleForm
    list_display = ["resource", "interval", "hours", "keep_daily", "keep_weekly",
                    "next_run_at", "last_run_at", "last_message", "scope"]
    list_filter = ["interval", "scope"]
    readonly_fields = ["next_run_at", "last_run_at", "last_message", "updated_by",
                       "updated_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("resource")

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "resource"] if obj is not None else self.readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.request = request
        return form

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "resource":  # the resources the user may manage, here
            kwargs["queryset"] = Resource.objects.visible_to(
                principal_of(request), Action.MANAGE_RESOURCE, current_scope(request)
            ).filter(managed=True, status=Resource.Status.READY)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        saved = schedules.set_schedule(
            principal_of(request), form.cleaned_data.get("resource") or obj.resource,
            **{name: form.cleaned_data.get(name) for name in EDITABLE})
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        schedules.delete_schedule(principal_of(request), obj.resource)

    def has_module_permission(self, request):
        return can_anywhere(request, Action.VIEW_RESOURCE)

    def has_view_permission(self, request, obj=None):
        return can_on(request, Action.VIEW_RESOURCE, obj)

    def has_add_permission(self, request):
        return can_anywhere(request, Action.MANAGE_RESOURCE)

    def has_change_permission(self, request, obj=None):
        return can_on(request, Action.MANAGE_RESOURCE, obj)

    def has_delete_permission(self, request, obj=None):
        return can_on(request, Action.MANAGE_RESOURCE, obj)
