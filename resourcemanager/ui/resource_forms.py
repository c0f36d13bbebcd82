"""The admin's resource forms: the provider's declared properties as real form fields.

The forms check what a person typed and show errors beside the fields; the lifecycle
service (``prepare_resource``, ``check_update``) is asked in ``clean`` and judges again
when the change is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.db.models import QuerySet

from providers.adapters.properties import PropertySpec
from providers.models import Provider
from resourcemanager.core.errors import ServiceError
from resourcemanager.identity.roles import Principal
from resourcemanager.resources import services
from resourcemanager.resources.models import Resource
from resourcemanager.ui.schema_forms import (
    PROPERTY_PREFIX,
    TagsField,
    property_fields,
    property_values,
    raise_as_form_error,
    scope_field,
    stored_values,
)


class ResourceCreateForm(forms.ModelForm):
    """A new managed resource; ``create_form`` adds the chosen provider's properties."""

    principal: Principal | None = None
    specs: Mapping[str, PropertySpec] = {}
    tags_text = TagsField()

    class Meta:
        model = Resource
        fields = ["scope", "provider", "name"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        try:
            self.resource_request = services.prepare_resource(
                self.principal,
                data["scope"],
                provider=data["provider"].key,
                name=data["name"],
                tags=data["tags_text"],
                properties=property_values(self, self.specs),
            )
        except ServiceError as exc:
            raise_as_form_error(self, exc)
        return data


def create_form(
    principal: Principal | None,
    scopes: list[str] | None,
    providers: QuerySet[Provider],
    provider: Provider | None,
) -> type[ResourceCreateForm]:
    """The add form of ``principal``: ``scopes`` to choose from (None: any scope, typed),
    ``providers`` usable there, the ``provider`` chosen so far, if any."""
    specs = provider.adapter_class.properties if provider is not None else {}
    provider_field = forms.ModelChoiceField(
        providers, help_text="Provider instances usable in the scope; choosing one shows "
        "its properties.")
    return type("ResourceCreateForm", (ResourceCreateForm,), {
        "principal": principal, "specs": specs,
        "scope": scope_field(scopes, "create resources"), "provider": provider_field,
        **property_fields(specs),
    })


class ResourceChangeForm(forms.ModelForm):
    """Tags and updatable properties of a managed resource (see ``change_form``)."""

    principal: Principal | None = None
    specs: Mapping[str, PropertySpec] = {}
    tags_text = TagsField()

    class Meta:
        model = Resource
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial["tags_text"] = list(self.instance.tags)
        self.initial.update(stored_values(self.specs, self.instance.properties))

    def clean(self) -> dict[str, Any]:
        """Only what changed is sent, as the API's PATCH would: the same audit and events."""
        data = super().clean()
        if self.errors:
            return data
        changed = set(self.changed_data)
        properties = {
            name: value for name, value in property_values(self, self.specs).items()
            if value is not None or not self.specs[name].secret
        }
        self.changes = {
            "tags": data["tags_text"] if "tags_text" in changed else None,
            "properties": (
                properties if changed & {PROPERTY_PREFIX + name for name in self.specs} else None
            ),
        }
        try:
            services.check_update(self.principal, self.instance, **self.changes)
        except ServiceError as exc:
            raise_as_form_error(self, exc)
        return data


def change_form(principal: Principal | None, resource: Resource) -> type[ResourceChangeForm]:
    """The change form of ``resource``: properties that cannot change are disabled."""
    specs = resource.provider.adapter_class.properties
    return type("ResourceChangeForm", (ResourceChangeForm,), {
        "principal": principal, "specs": specs, **property_fields(specs, editing=True),
    })
