"""Quotas: a scope's, whose limits its members read beside what the scope holds, and a
resource's own size limit, read on the resource's page and set from there on a page of
its own. Platform operators set both, through the service (audited), as through the API."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, reverse

from resourcemanager.identity.principals import principal_of
from resourcemanager.identity.roles import Action
from resourcemanager.resources import quotas
from resourcemanager.resources.models import Resource
from resourcemanager.scopes.models import ScopeQuota
from resourcemanager.ui.admin.permissions import can_anywhere, can_on
from resourcemanager.ui.admin.refusals import ServiceSaveAdmin
from resourcemanager.ui.admin.resource_pages import (
    Visible,
    resource_form_page,
    resource_page_path,
)
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
class ScopeQuotaAdmin(ServiceSaveAdmin, CurrentScopeAdmin, admin.ModelAdmin):
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


class ResourceLimitForm(forms.Form):
    max_bytes = forms.IntegerField(
        label="Size limit (bytes)", required=False, min_value=0, max_value=quotas.MAX_BYTES,
        help_text="Bytes the resource may hold, as the CHECK sweep measures them; over it, "
        "its writes are frozen. Empty: no limit of its own (the scope's still applies).")


def resource_limit_urls(model_admin: admin.ModelAdmin, visible: Visible
                        ) -> list[URLPattern]:
    """The resource admin's *Set size limit…* page."""
    return [resource_page_path(model_admin, visible, "limit", resource_limit_page)]


def resource_limit_panel(request: HttpRequest, resource: Resource) -> dict[str, Any]:
    """Whether a resource's page offers *Set size limit…*, and where it is."""
    return {
        "rm_can_limit": _may_limit(request, resource),
        "rm_limit_url": reverse("admin:resourcemanager_resource_limit",
                                args=[quote(resource.pk)]),
    }


def resource_limit_page(model_admin: admin.ModelAdmin, request: HttpRequest,
                        resource: Resource) -> HttpResponse:
    """GET: the resource's limit and size; POST: set the limit (empty: none), then the
    resource's page."""
    if not _may_limit(request, resource):
        raise PermissionDenied
    form = ResourceLimitForm(request.POST or None, initial={"max_bytes": resource.max_bytes})
    measured = (f"{resource.size} bytes as measured at {resource.size_measured_at:%Y-%m-%d %H:%M}"
                if resource.size_measured_at else "a size not measured yet")
    return resource_form_page(
        model_admin, request, resource, form,
        lambda data: quotas.set_resource_limit(principal_of(request), resource.scope,
                                               resource.pk, data["max_bytes"]),
        lambda changed: model_admin.message_user(
            request, f"Size limit of {changed}: " + (
                "none of its own" if changed.max_bytes is None
                else f"{changed.max_bytes} bytes") + "; the next CHECK sweep applies it.",
            messages.SUCCESS), {
            "title": f"Size limit of {resource}",
            "rm_intro": f"{resource} holds {measured}. Over its limit, the CHECK sweep "
                        "freezes its writes, and lifts the freeze once it is well under "
                        "again (RM_QUOTA_UNFREEZE_RATIO).",
            "rm_submit": "Set the limit",
        })


def _may_limit(request: HttpRequest, resource: Resource) -> bool:
    return (resource.status != Resource.Status.DELETED
            and can_on(request, Action.MANAGE_QUOTA, resource))
