"""Admin for consumers. Every change goes through ``consumers.services``."""

from __future__ import annotations

import json
from datetime import datetime

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.timezone import localtime

from consumers import forms, services
from consumers.models import Consumer, Delivery
from resourcemanager.core.errors import ServiceError
from resourcemanager.identity.principals import principal_of
from resourcemanager.identity.roles import Action
from resourcemanager.ui.admin.permissions import apply_each, can_anywhere, can_in_view, can_on
from resourcemanager.ui.admin.refusals import ServiceSaveAdmin
from resourcemanager.ui.admin.schema import SchemaAddAdmin
from resourcemanager.ui.adminscope import CurrentScopeAdmin

#: Deliveries listed on a consumer's page.
RECENT = 20
_COLUMNS = ("#", "event", "resource", "status", "attempts", "delivered", "last error",
            "next retry", "skipped because")


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else f"{localtime(moment):%Y-%m-%d %H:%M:%S}"


def _row(delivery: Delivery) -> tuple[object, ...]:
    error = (f"{_when(delivery.last_error_at)}: {delivery.last_error}"
             if delivery.last_error else "-")
    return (delivery.pk, delivery.event, delivery.resource.get("name", delivery.resource_id),
            delivery.status, delivery.attempts, _when(delivery.delivered_at), error,
            _when(delivery.next_attempt_at), delivery.skip_reason or "-")


@admin.register(Consumer)
class ConsumerAdmin(ServiceSaveAdmin, SchemaAddAdmin, CurrentScopeAdmin, admin.ModelAdmin):
    """Consumers of the current scope. The add and change forms show the builder's
    declared properties as fields (``consumers.forms``); the add page follows the builder
    chosen in ``?builder=`` (``SchemaAddAdmin``)."""

    view_action = Action.VIEW_CONSUMER
    change_form_template = "admin/schema_change_form.html"
    list_display = ["name", "scope", "builder", "enabled", "last_success", "last_error_shown",
                    "failed", "retrying"]
    list_filter = ["builder", "enabled", "scope"]
    search_fields = ["name"]
    actions = ["sync_selected", "delete_selected"]
    add_fields = ["scope", "builder", "name", "tags_text", "resource_types",
                  "credential_access"]
    reload_on = ["scope", "builder"]
    choose_label = "Show the builder's properties"
    status_fields = ["id", "scope", "builder", "delivery_status", "recent_deliveries",
                     "created_at", "updated_at"]
    edit_fields = ["name", "tags_text", "resource_types", "credential_access", "enabled"]
    #: What a user who may only read the consumer sees instead of ``edit_fields``: Django
    #: shows read-only fields from the model, where the secrets are in the clear.
    read_fields = ["name", "tags_shown", "resource_types", "properties_shown",
                   "credential_access", "enabled"]

    def get_queryset(self, request):
        return services.with_delivery_status(super().get_queryset(request))

    def add_form(self, request: HttpRequest) -> type[forms.ConsumerForm]:
        """The add form for the builder chosen so far (posted, or in the query)."""
        principal = principal_of(request)
        data = request.POST if request.method == "POST" else request.GET
        scopes = None if principal.is_operator else principal.scopes_for(
            Action.MANAGE_CONSUMER)
        return forms.create_form(principal, scopes, data.get("builder", ""))

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            specs = self.add_form(request).specs
            return [(None, {"fields": [*self.add_fields, "enabled"]}),
                    *self.property_fieldset(specs)]
        if not self.has_change_permission(request, obj):
            return [(None, {"fields": [*self.status_fields, *self.read_fields]})]
        return [(None, {"fields": [*self.status_fields, *self.edit_fields]}),
                *self.property_fieldset(forms.builder_specs(obj.builder))]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form(request)
        elif self.has_change_permission(request, obj):
            kwargs["form"] = forms.change_form(principal_of(request), obj)
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.status_fields

    @admin.display(description="Tags")
    def tags_shown(self, obj: Consumer) -> str | None:
        return ", ".join(obj.tags) or None

    @admin.display(description="Properties")
    def properties_shown(self, obj: Consumer) -> str:
        return json.dumps(services.masked_properties(obj), indent=2, sort_keys=True)

    @admin.display(description="Last success", ordering="last_delivered_at")
    def last_success(self, obj: Consumer) -> str:
        return _when(obj.last_delivered_at)

    @admin.display(description="Last error")
    def last_error_shown(self, obj: Consumer) -> str:
        if not obj.last_error_at:
            return "-"
        return f"{_when(obj.last_error_at)}: {Truncator(obj.last_error).chars(80)}"

    @admin.display(description="Failed", ordering="failed_deliveries")
    def failed(self, obj: Consumer) -> int:
        return obj.failed_deliveries

    @admin.display(description="Retrying")
    def retrying(self, obj: Consumer) -> str:
        paused = f"; held back until {_when(obj.paused_until)}" if obj.paused_until else ""
        if not obj.retrying_deliveries:
            return "0" + paused
        return f"{obj.retrying_deliveries}, next {_when(obj.next_retry_at)}{paused}"

    @admin.display(description="Deliveries")
    def delivery_status(self, obj: Consumer) -> str:
        parts = [f"{obj.pending_deliveries} pending ({obj.retrying_deliveries} retrying)",
                 f"{obj.failed_deliveries} failed", f"{obj.skipped_deliveries} skipped",
                 f"last success {_when(obj.last_delivered_at)}"]
        if obj.last_error_at:
            parts.append(f"last error {_when(obj.last_error_at)}: {obj.last_error}")
        if obj.next_retry_at:
            parts.append(f"next retry {_when(obj.next_retry_at)}")
        if obj.paused_until:
            parts.append(f"held back until {_when(obj.paused_until)} after "
                         f"{obj.failures_in_a_row} failures in a row")
        return "; ".join(parts)

    @admin.display(description=f"Latest {RECENT} deliveries")
    def recent_deliveries(self, obj: Consumer) -> str:
        rows = format_html_join("", "<tr>{}</tr>", (
            (format_html_join("", "<td>{}</td>", ((cell,) for cell in _row(delivery))),)
            for delivery in services.deliveries_of(obj)[:RECENT]
        ))
        head = format_html_join("", "<th>{}</th>", ((title,) for title in _COLUMNS))
        return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>",
                           head, rows or format_html("<tr><td>{}</td></tr>", "none yet"))

    def save_model(self, request, obj, form, change):
        principal, data = principal_of(request), form.cleaned_data
        values = {**form.values(), "enabled": data["enabled"]}
        if change:
            saved = services.update_consumer(principal, obj, **values)
        else:
            saved = services.create_consumer(
                principal, data["scope"], builder=data["builder"], **values
            )
        obj.pk = saved.pk
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        """Consumers have no related rows edited here."""

    def delete_model(self, request, obj):
        services.delete_consumer(principal_of(request), obj)

    def delete_queryset(self, request, queryset):
        apply_each(self, request, queryset, services.delete_consumer)

    @admin.action(description="Deliver all matching resources to the selected consumers again",
                  permissions=["sync"])
    def sync_selected(self, request, queryset):
        principal = principal_of(request)
        for consumer in queryset:
            try:
                queued = services.sync(principal, consumer)
            except ServiceError as exc:
                self.message_user(request, f"{consumer}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{consumer}: {queued} resource(s) queued")

    def has_sync_permission(self, request: HttpRequest) -> bool:
        return can_in_view(request, Action.MANAGE_CONSUMER)

    def has_module_permission(self, request):
        return can_anywhere(request, Action.VIEW_CONSUMER)

    def has_view_permission(self, request, obj=None):
        return can_on(request, Action.VIEW_CONSUMER, obj)

    def has_add_permission(self, request):
        return can_anywhere(request, Action.MANAGE_CONSUMER)

    def has_change_permission(self, request, obj=None):
        return can_on(request, Action.MANAGE_CONSUMER, obj)

    def has_delete_permission(self, request, obj=None):
        return can_on(request, Action.MANAGE_CONSUMER, obj)
