"""A scope's settings: seen by its members, changed by its ADMINs through the service."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from resourcemanager.core.errors import ServiceError
from resourcemanager.identity.principals import principal_of
from resourcemanager.identity.roles import Action
from resourcemanager.scopes import services
from resourcemanager.scopes.models import ScopeSettings
from resourcemanager.ui.admin.permissions import can_anywhere, can_on
from resourcemanager.ui.admin.refusals import ServiceSaveAdmin
from resourcemanager.ui.adminscope import CurrentScopeAdmin


class ScopeSettingsForm(forms.ModelForm):
    class Meta:
        model = ScopeSettings
        fields = ["scope", *services.EDITABLE]
        help_texts = {
            "credential_self_service": "The highest access a member may issue for itself "
            "(holder user:<name>), and renew and revoke; empty: off.",
            "credential_default_ttl": "Seconds a credential lives when its request names "
            "none; empty: it does not expire.",
            "credential_max_ttl": "The scope's ceiling for ttl and max_ttl, in seconds, "
            "below the server's; empty: the server's.",
        }

    refused = False

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        scope = data.get("scope") or self.instance.scope
        try:  # first: whether another scope has settings is not told to its outsiders
            services.check_settings(principal_of(self.request), scope,
                                    **{name: data.get(name) for name in services.EDITABLE})
        except ServiceError as exc:
            self.refused = True
            raise ValidationError(exc.message) from None
        if self.instance.pk is None and ScopeSettings.objects.filter(scope=scope).exists():
            raise ValidationError("this scope has its settings already: change them there")
        return data

    def validate_unique(self) -> None:
        if not self.refused:  # the model's own check would tell it as well
            super().validate_unique()


@admin.register(ScopeSettings)
class ScopeSettingsAdmin(ServiceSaveAdmin, CurrentScopeAdmin, admin.ModelAdmin):
    """Every member reads its scope's settings; a scope's ADMINs change them (audited)."""

    view_action = Action.VIEW_SCOPE_SETTINGS
    form = ScopeSettingsForm
    list_display = ["scope", *services.EDITABLE, "updated_by", "updated_at"]
    readonly_fields = ["updated_by", "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "scope"] if obj is not None else self.readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.request = request
        return form

    def save_model(self, request, obj, form, change):
        saved = services.update_settings(
            principal_of(request), obj.scope,
            **{name: form.cleaned_data.get(name) for name in services.EDITABLE})
        obj.pk = saved.pk

    def has_module_permission(self, request):
        return can_anywhere(request, Action.VIEW_SCOPE_SETTINGS)

    def has_view_permission(self, request, obj=None):
        return can_on(request, Action.VIEW_SCOPE_SETTINGS, obj)

    def has_add_permission(self, request):
        return can_anywhere(request, Action.MANAGE_SCOPE_SETTINGS)

    def has_change_permission(self, request, obj=None):
        return can_on(request, Action.MANAGE_SCOPE_SETTINGS, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # empty fields are the defaults: change them instead
