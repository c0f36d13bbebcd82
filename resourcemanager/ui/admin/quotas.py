"""A scope's quota: its members read the limits beside what the scope holds; platform
operators set them, through the service (audited), as through the API."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from resourcemanager.identity.principals import principal_of
from resourcemanager.identity.roles import Action
from resourcemanager.resources import quotas
from resourcemanager.scopes.models import ScopeQuota
from resourcemanager.ui.admin.permissions import can_anywhere, can_on
from resourcemanager.ui.adminscope import CurrentScopeAdmin


class ScopeQuotaForm(forms.ModelForm):
    class Meta:
        model = ScopeQuota
        fields = ["scope", *quotas.LIMITS]
        help_texts = {
            "max_resources": "Resources the scope may hold at once; empty: no limit.",
            "max_credentials": "Credentials (owners' aside) its resources may hold at once; "
            "empty: no limit.",
            "max_bytes": "Bytes its resources may hold together, as the CHECK sweep measures "
            "them; over it, writes are frozen; empty: no limit.",
        }

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        scope = data.get("scope") or self.instance.scope
        if self.instance.pk is None and ScopeQuota.objects.filter(scope=scope).exists():
            raise ValidationError("this scope has its quota already: change it there")
        for name, largest in quotas.LIMITS.items():
            value = data.get(name)
            if value is not None and not 0 <= value <= largest:
                self.add_error(name, f"a whole number from 0 to {largest}, or empty")
        return data


@admin.register(ScopeQuota)
class ScopeQuotaAdmin(CurrentScopeAdmin, admin.ModelAdmin):
    """Every member reads its scope's quota and usage; operators set the limits."""

    view_action = Action.VIEW_QUOTA
    form = ScopeQuotaForm
    list_display = ["scope", *quotas.LIMITS, "usage", "updated_by", "updated_at"]
    readonly_fields = ["usage", "updated_by", "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "scope"] if obj is not None else self.readonly_fields

    @admin.display(description="holds now")
    def usage(self, quota: ScopeQuota) -> str:
        held = quotas.usage_of(quota.scope)
        return (f"{held.resources} resources, {held.credentials} credentials, "
                f"{held.bytes} bytes ({held.frozen} frozen)")

    def save_model(self, request, obj, form, change):
        saved = quotas.update_quota(principal_of(request), obj.scope,
                                    **{name: form.cleaned_data.get(name)
                                       for name in quotas.LIMITS})
        obj.pk = saved.pk

    def has_module_permission(self, request):
        return can_anywhere(request, Action.VIEW_QUOTA)

    def has_view_permission(self, request, obj=None):
        return can_on(request, Action.VIEW_QUOTA, obj)

    def has_add_permission(self, request):
        return can_anywhere(request, Action.MANAGE_QUOTA)

    def has_change_permission(self, request, obj=None):
        return can_on(request, Action.MANAGE_QUOTA, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # empty limits are no limits: change them instead
