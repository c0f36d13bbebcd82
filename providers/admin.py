from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import URLPattern, path, reverse

from providers.models import Provider
from providers.services import (
    diagnose_provider,
    save_provider,
    validate_allowed_scopes,
    validate_host,
    validate_key,
    validate_options,
    validate_port,
)
from resourcemanager.core.errors import ServiceError
from resourcemanager.identity.principals import principal_of
from resourcemanager.identity.roles import Action
from resourcemanager.resources.failures import reachability_shown
from resourcemanager.ui.admin.permissions import can_anywhere
from resourcemanager.ui.adminscope import current_scope


class ProviderForm(forms.ModelForm):
    """The instance as declarations are checked (``providers.services``), each refusal
    beside its field."""

    password = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text="Admin password of the server; leave empty to keep the stored one.",
    )

    class Meta:
        model = Provider
        fields = [
            "key",
            "provider_class",
            "description",
            "host",
            "port",
            "username",
            "password",
            "options",
            "allowed_scopes",
            "enabled",
            "is_default",
        ]

    def clean(self):
        data = super().clean()
        if "provider_class" in data and "options" in data:
            try:
                validate_options(data["provider_class"], data["options"])
            except ServiceError as exc:
                self.add_error("options", exc.message)
        return data

    def clean_key(self):
        return self._checked(validate_key, self.cleaned_data["key"], self.instance.pk)

    def clean_host(self):
        return self._checked(validate_host, self.cleaned_data["host"])

    def clean_port(self):
        return self._checked(validate_port, self.cleaned_data["port"])

    def clean_allowed_scopes(self):
        return self._checked(validate_allowed_scopes, self.cleaned_data["allowed_scopes"])

    @staticmethod
    def _checked(check: Callable[..., Any], *args: Any) -> Any:
        try:
            return check(*args)
        except ServiceError as exc:
            raise forms.ValidationError(exc.message) from None

    def clean_password(self):
        return self.cleaned_data["password"] or (self.instance.password if self.instance else "")


#: What every role may read of an instance (as ``GET /providers``): never its host, admin
#: account, options or allowed scopes.
TENANT_FIELDS = [
    "key",
    "provider_class",
    "description",
    "is_default",
    "reachable",
    "reachability",
    "reachability_checked_at",
]


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    """Operators manage instances; every other role reads those usable in its scopes.

    Non-operators get a read-only list and detail of ``TENANT_FIELDS``; an instance not
    usable in their scopes is missing to them exactly like an id that never existed.

    The *Test connection* diagnostic (bulk action and detail-page button) is for operators
    only, although every role may view providers: it logs in to the shared server with the
    platform's admin account and records the outcome on the instance, which every scope
    sharing it then sees. A scope ADMIN learns nothing from it that the recorded
    reachability (refreshed by beat) does not show, and letting tenants trigger admin
    logins on shared servers at will would hand them a lever on infrastructure they do
    not run.
    """

    form = ProviderForm
    list_display = [
        "key", "provider_class", "host", "port", "enabled", "is_default", "reachable", "source"
    ]
    list_filter = ["provider_class", "enabled", "source"]
    search_fields = ["key", "description"]
    readonly_fields = [
        "reachable", "reachability_message", "reachability", "reachability_checked_at"
    ]
    actions = ["test_connection"]

    def get_queryset(self, request):
        # Operators manage every instance whatever scope the switcher shows.
        return Provider.objects.visible_to(principal_of(request), current_scope(request))

    def get_list_display(self, request):
        return self.list_display if self._is_operator(request) else TENANT_FIELDS

    def get_list_filter(self, request):
        return self.list_filter if self._is_operator(request) else ["provider_class"]

    def get_fields(self, request, obj=None):
        return super().get_fields(request, obj) if self._is_operator(request) else TENANT_FIELDS

    @admin.display(description="reachability, as tenants read it")
    def reachability(self, provider: Provider) -> str:
        """A failed connection test without the server's detail (``failures``)."""
        return reachability_shown(provider, operator=False)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if not self._is_operator(request):
            kwargs["form"] = forms.ModelForm  # never ProviderForm's password field
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request, obj, form, change):
        save_provider(principal_of(request), obj, created=not change)

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/test-connection/",
                self.admin_site.admin_view(self.test_connection_view),
                name="{}_{}_test_connection".format(*info),
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}),
                         "can_test_connection": self.has_diagnose_permission(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        """Operators' edits of the platform's configuration are theirs alone to read."""
        if not self._is_operator(request):
            raise PermissionDenied  # before the lookup, as for every id
        return super().history_view(request, object_id, extra_context)

    def test_connection_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST: test the admin account's connection to one instance, then back to it."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_diagnose_permission(request):
            raise PermissionDenied  # before the lookup: no hint whether the id exists
        provider = self.get_object(request, unquote(object_id))
        if provider is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        self._report_connection(request, provider)
        info = self.opts.app_label, self.opts.model_name
        return HttpResponseRedirect(
            reverse("admin:{}_{}_change".format(*info), args=[provider.pk],
                    current_app=self.admin_site.name)
        )

    @admin.action(description="Test connection with the admin account", permissions=["diagnose"])
    def test_connection(self, request, queryset):
        for provider in queryset:
            self._report_connection(request, provider)

    def _report_connection(self, request: HttpRequest, provider: Provider) -> None:
        diagnosis = diagnose_provider(provider)
        if diagnosis.problem:
            self.message_user(request, f"{provider}: {diagnosis.problem}", messages.ERROR)
            return
        self.message_user(request, f"{provider}: reachable", messages.SUCCESS)
        for warning in diagnosis.warnings:
            self.message_user(request, f"{provider}: {warning}", messages.WARNING)

    @staticmethod
    def _is_operator(request: HttpRequest) -> bool:
        principal = principal_of(request)
        return principal is not None and principal.is_operator

    def has_diagnose_permission(self, request: HttpRequest) -> bool:
        return self._is_operator(request)

    def has_module_permission(self, request):
        return can_anywhere(request, Action.VIEW_PROVIDER)

    def has_view_permission(self, request, obj=None):
        return can_anywhere(request, Action.VIEW_PROVIDER)

    def has_add_permission(self, request):
        return self._is_operator(request)

    def has_change_permission(self, request, obj=None):
        return self._is_operator(request)

    def has_delete_permission(self, request, obj=None):
        return False  # disable instead: resources keep referring to it
