"""Form pieces shared by the admin's schema-driven forms (resources and consumers): the
declared properties as fields named ``property_<name>``, tags typed as text, the scope to
choose and a service's refusal shown beside the field it names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from django import forms
from django.core.exceptions import ValidationError

from providers.adapters.properties import MAX_URL_LENGTH, PropertySpec
from resourcemanager.core.errors import ServiceError

#: Form field names of properties: ``property_connection_limit``, apart from the others.
PROPERTY_PREFIX = "property_"
TAGS_HELP = (
    "Comma-separated, e.g. <code>analytics, staging</code>: lowercase letters, digits and "
    "<code>. _ : -</code>. Consumers receive the resources whose tags they follow."
)


class TagsField(forms.CharField):
    """Tags typed as comma-separated text; cleaned into a list (the service checks each)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{"label": "Tags", "required": False, "help_text": TAGS_HELP,
                            **kwargs})

    def prepare_value(self, value: Any) -> Any:
        return ", ".join(value) if isinstance(value, list | tuple) else value

    def to_python(self, value: Any) -> list[str]:
        return [part.strip() for part in super().to_python(value).split(",") if part.strip()]


def scope_field(scopes: list[str] | None, what: str) -> forms.Field:
    """A choice of ``scopes``, or any scope typed (None: an operator's form)."""
    if scopes is None:
        return forms.CharField(max_length=63,
                               help_text=f"Any scope: operators may {what} in every scope.")
    return forms.ChoiceField(choices=[(s, s) for s in scopes],
                             help_text=f"Scopes where your roles let you {what}.")


def form_fields(
    specs: Mapping[str, PropertySpec], *, editing: bool = False
) -> dict[str, forms.Field]:
    """Django form fields for ``specs``. ``editing`` (an existing resource) disables the
    properties that are not updatable, and makes secrets optional: their fields start
    empty, and left so keep the stored value. An empty field means null, i.e. the default;
    ``validate`` remains the judge of the cleaned values."""
    fields: dict[str, forms.Field] = {}
    for name, spec in specs.items():
        kept = editing and spec.secret
        common: dict[str, Any] = {
            "label": name.replace("_", " ").capitalize(),
            "help_text": spec.description + (" (left empty, it is kept)" if kept else ""),
            "initial": spec.default,
            "required": spec.required and spec.default is None and not kept,
            "disabled": editing and not spec.updatable,
        }
        if spec.kind == "boolean":
            common["required"] = False  # a required checkbox would have to be ticked
            field: forms.Field = forms.BooleanField(**common)
        elif spec.kind == "integer":
            field = forms.IntegerField(min_value=spec.minimum, max_value=spec.maximum, **common)
        elif spec.kind == "choice":
            choices = [(choice, choice) for choice in spec.choices]
            if spec.default is None and not spec.required:
                choices.insert(0, ("", "(server default)"))
            field = forms.TypedChoiceField(choices=choices, empty_value=None, **common)
        elif spec.kind == "url":
            field = forms.URLField(max_length=MAX_URL_LENGTH, empty_value=None,
                                   assume_scheme="https", **common)
        else:
            widget = forms.PasswordInput if spec.secret else None
            field = forms.CharField(max_length=spec.max_length, strip=not spec.secret,
                                    empty_value=None, widget=widget, **common)
        fields[name] = field
    return fields


def property_fields(
    specs: Mapping[str, PropertySpec], *, editing: bool = False
) -> dict[str, forms.Field]:
    return {PROPERTY_PREFIX + name: field
            for name, field in form_fields(specs, editing=editing).items()}


def property_values(form: forms.Form, specs: Mapping[str, PropertySpec]) -> dict[str, Any]:
    return {name: form.cleaned_data.get(PROPERTY_PREFIX + name) for name in specs}


def stored_values(specs: Mapping[str, PropertySpec], stored: Mapping[str, Any]) -> dict[str, Any]:
    """Initial values of the property fields from ``stored`` properties. Secrets are never
    sent back to the browser: their fields start empty, and left so keep the secret."""
    return {PROPERTY_PREFIX + name: stored.get(name)
            for name, spec in specs.items() if not spec.secret}


def raise_as_form_error(form: forms.Form, exc: ServiceError) -> NoReturn:
    """The service's refusal, beside the field it names where ``form`` has that field."""
    field = "tags_text" if exc.field == "tags" else exc.field
    raise ValidationError(
        {field: exc.message} if field in form.fields else exc.message
    ) from None
