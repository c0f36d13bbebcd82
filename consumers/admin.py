"""Admin for consumers. Every change goes through ``consumers.services``."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from consumers import services
from consumers.models import Consumer
from consumers.registry import builder_choices
from resourcemanager.access import Action
from resourcemanager.admin.permissions import apply_each, can_anywhere, can_on
from resourcemanager.adminscope import CurrentScopeAdmin
from resourcemanager.errors import ServiceError
from resourcemanager.identity import principal_of
from resourcemanager.models import Resource
from resourcemanager.resource_forms import TagsField


class ConsumerForm(forms.ModelForm):
    """Validated by the service (``validate_consumer``), which also checks access."""

    builder = forms.ChoiceField(choices=builder_choices)
    tags_text = TagsField(
        help_text="Comma-separated; only resources sharing one are delivered (empty: all)",
    )
    resource_types = forms.MultipleChoiceField(
        choices=Resource.Type.choices, required=False,
        widget=forms.CheckboxSelectMultiple, help_text="None checked: all the builder handles",
    )
    properties = forms.JSONField(
        required=False, initial=dict,
        help_text=f"Secrets show as {services.MASK!r}; leave them so to keep them",
    )

    class Meta:
        model = Consumer
        fields = ["scope", "name", "enabled"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding:
            self.initial.update(
                tags_text=self.instance.tags,
                resource_types=self.instance.resource_types,
                properties=services.masked_properties(self.instance),
            )

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        stored = None if self.instance._state.adding else self.instance
        try:
            services.validate_consumer(
                principal_of(self.request),
                stored.scope if stored else data["scope"],
                builder=stored.builder if stored else data["builder"],
                name=data["name"],
                tags=data["tags_text"],
                resource_types=data.get("resource_types") or [],
                properties=data.get("properties") or {},
                consumer=stored,
            )
        except ServiceError as exc:
            raise ValidationError({exc.field: exc.message} if exc.field else exc.message) from None
        return data


@admin.register(Consumer)
class ConsumerAdmin(CurrentScopeAdmin, admin.ModelAdmin):
    view_action = Action.VIEW_CONSUMER
    form = ConsumerForm
    list_display = ["name", "scope", "builder", "enabled", "updated_at"]
    list_filter = ["builder", "enabled", "scope"]
    search_fields = ["name"]
    actions = ["sync_selected", "delete_selected"]
    status_fields = ["id", "scope", "builder", "delivery_status", "created_at", "updated_at"]
    edit_fields = ["name", "tags_text", "resource_types", "properties", "enabled"]

    def get_queryset(self, request):
        return services.with_delivery_status(super().get_queryset(request))

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.request = request
        return form

    #: What a user who may only read the consumer sees instead of ``edit_fields``: Django
    #: shows read-only fields from the model, where the secrets are in the clear.
    read_fields = ["name", "tags_shown", "resource_types", "properties_shown", "enabled"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["scope", "builder", *self.edit_fields]
        if not self.has_change_permission(request, obj):
            return [*self.status_fields, *self.read_fields]
        return [*self.status_fields, *self.edit_fields]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.status_fields

    @admin.display(description="Tags")
    def tags_shown(self, obj: Consumer) -> str | None:
        return ", ".join(obj.tags) or None

    @admin.display(description="Properties")
    def properties_shown(self, obj: Consumer) -> str:
        return json.dumps(services.masked_properties(obj), indent=2, sort_keys=True)

    @admin.display(description="Deliveries")
    def delivery_status(self, obj: Consumer) -> str:
        parts = [f"{obj.pending_deliveries} pending", f"{obj.failed_deliveries} failed"]
        if obj.last_delivered_at:
            parts.append(f"last success {obj.last_delivered_at:%Y-%m-%d %H:%M:%S}")
        if obj.last_error:
            parts.append(f"last error {obj.last_error_at:%Y-%m-%d %H:%M:%S}: {obj.last_error}")
        return "; ".join(parts)

    def save_model(self, request, obj, form, change):
        principal, data = principal_of(request), form.cleaned_data
        values = {
            "name": data["name"],
            "tags": data["tags_text"],
            "resource_types": data.get("resource_types") or [],
            "properties": data.get("properties") or {},
            "enabled": data["enabled"],
        }
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

    @admin.action(description="Deliver all matching resources to the selected consumers again")
    def sync_selected(self, request, queryset):
        principal = principal_of(request)
        for consumer in queryset:
            try:
                queued = services.sync(principal, consumer)
            except ServiceError as exc:
                self.message_user(request, f"{consumer}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{consumer}: {queued} resource(s) queued")

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
