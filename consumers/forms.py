"""The admin's consumer forms: the builder's declared properties as real form fields.

The forms check what a person typed and show errors beside the fields;
``services.validate_consumer`` is asked in ``clean`` and the service judges again when the
consumer is saved. Secrets are password fields that never show their value: left empty
on the change form, the stored secret is kept (the service's contract for an empty one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms

from consumers import services
from consumers.builders.registry import builder_choices, builder_class
from consumers.models import Consumer
from providers.adapters.properties import PropertySpec
from resourcemanager.core.errors import ServiceError
from resourcemanager.identity.roles import Principal
from resourcemanager.resources.models import Credential, Resource
from resourcemanager.ui import schema_forms


def builder_specs(key: object) -> Mapping[str, PropertySpec]:
    """The property schema of the builder ``key``; none for an unknown one."""
    try:
        return builder_class(str(key)).properties
    except LookupError:
        return {}


def builder_access(key: object) -> str:
    """The access level of the logins of a new consumer of builder ``key``."""
    try:
        return str(builder_class(str(key)).credential_access)
    except LookupError:
        return Credential.Access.READ_ONLY


class ConsumerForm(forms.ModelForm):
    """A consumer's fields; ``create_form`` and ``change_form`` add the builder's properties."""

    principal: Principal | None = None
    specs: Mapping[str, PropertySpec] = {}
    tags_text = schema_forms.TagsField(
        help_text="Comma-separated; only resources sharing one are delivered (empty: all)",
    )
    resource_types = forms.MultipleChoiceField(
        choices=Resource.Type.choices, required=False,
        widget=forms.CheckboxSelectMultiple, help_text="None checked: all the builder handles",
    )

    class Meta:
        model = Consumer
        fields = ["name", "enabled", "credential_access"]
        help_texts = {"credential_access": (
            "Access of the login of its own it is given on each resource (where the "
            "resource's provider offers such logins)")}

    def values(self) -> dict[str, Any]:
        """The cleaned fields, but ``enabled``, as ``validate_consumer`` takes them."""
        data = self.cleaned_data
        return {
            "name": data["name"],
            "tags": data["tags_text"],
            "resource_types": data.get("resource_types") or [],
            "properties": schema_forms.property_values(self, self.specs),
            "credential_access": data["credential_access"],
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        stored = None if self.instance._state.adding else self.instance
        try:
            services.validate_consumer(
                self.principal,
                stored.scope if stored else data["scope"],
                builder=stored.builder if stored else data["builder"],
                consumer=stored,
                **self.values(),
            )
        except ServiceError as exc:
            schema_forms.raise_as_form_error(self, exc)
        return data


def create_form(
    principal: Principal | None, scopes: list[str] | None, builder: str
) -> type[ConsumerForm]:
    """The add form of ``principal``: ``scopes`` to choose from (None: any scope, typed) and
    the properties of the ``builder`` chosen so far, if any."""
    specs = builder_specs(builder)
    builder_field = forms.ChoiceField(
        choices=[("", "---------"), *builder_choices()],
        help_text="The kind of tool; choosing one shows its properties.",
    )
    return type("ConsumerCreateForm", (ConsumerForm,), {
        "principal": principal, "specs": specs,
        "scope": schema_forms.scope_field(scopes, "manage consumers"), "builder": builder_field,
        "credential_access": forms.ChoiceField(
            choices=Credential.Access.choices, initial=builder_access(builder),
            help_text=ConsumerForm.Meta.help_texts["credential_access"]),
        **schema_forms.property_fields(specs),
    })


class ConsumerChangeForm(ConsumerForm):
    """A stored consumer: its fields and non-secret properties start as stored."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial.update(
            tags_text=self.instance.tags,
            resource_types=self.instance.resource_types,
            **schema_forms.stored_values(self.specs, self.instance.properties),
        )


def change_form(principal: Principal | None, consumer: Consumer) -> type[ConsumerChangeForm]:
    """The change form of ``consumer``: secrets left empty keep their value."""
    specs = builder_specs(consumer.builder)
    return type("ConsumerChangeForm", (ConsumerChangeForm,), {
        "principal": principal, "specs": specs, **schema_forms.property_fields(specs, editing=True),
    })
