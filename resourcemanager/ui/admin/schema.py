"""Admins whose add form follows a choice made on it (a resource's provider, a consumer's
builder): the chosen schema's properties show as fields (``schema_forms``).

The add page is shown for the choice in its query (``?provider=``, ``?builder=``).
``schema_form.js`` reloads it when the choice changes, keeping what was typed except
secrets; without JavaScript the form's "Show … properties" button posts here and is
redirected alike (``templates/admin/schema_change_form.html``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.utils.http import urlencode

from providers.adapters.properties import PropertySpec
from resourcemanager.ui.schema_forms import PROPERTY_PREFIX

#: The name of the form's button that reloads it without JavaScript.
CHOOSE = "_rm_choose"


def kept_values(
    posted: QueryDict, fields: list[str], specs: Mapping[str, PropertySpec]
) -> list[tuple[str, str]]:
    """What a reload keeps of ``posted``: the values of ``fields`` and of the properties
    ``specs`` (the new choice's) declare, never a secret: it would end up in a URL, and a
    field of the previous choice may have been one."""
    shown = {PROPERTY_PREFIX + name for name, spec in specs.items() if not spec.secret}
    return [
        (name, value) for name, values in posted.lists() for value in values
        if value and (name in fields or name in shown)
    ]


class SchemaAddAdmin:
    """Mixin of a model admin whose ``add_form(request)`` depends on a choice on the form."""

    #: The add form's own fields, kept when it is reloaded.
    add_fields: list[str]
    #: The fields whose change reloads the add form (selects only).
    reload_on: list[str]
    #: What the button that reloads it without JavaScript says.
    choose_label: str

    def add_form(self, request: HttpRequest) -> type[forms.BaseForm]:
        """The add form for the choice posted or in the query; it has ``specs``."""
        raise NotImplementedError

    def add_view(
        self, request: HttpRequest, form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if (request.method == "POST" and CHOOSE in request.POST
                and self.has_add_permission(request)):
            kept = kept_values(request.POST, self.add_fields, self.add_form(request).specs)
            return HttpResponseRedirect(f"{request.path}?{urlencode(kept)}")
        choose = {"keep": " ".join(self.add_fields), "reload_on": " ".join(self.reload_on),
                  "label": self.choose_label}
        return super().add_view(request, form_url, {**(extra_context or {}),
                                                    "rm_choose": choose})

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """Fields given more than once in the query (checkboxes) start with every value."""
        initial = super().get_changeform_initial_data(request)
        several = {name: values for name in self.add_fields
                   if len(values := request.GET.getlist(name)) > 1}
        return {**initial, **several}

    @staticmethod
    def property_fieldset(specs: Mapping[str, PropertySpec]) -> list[tuple[str, dict]]:
        """The fieldset of the properties, if there are any."""
        names = [PROPERTY_PREFIX + name for name in specs]
        return [("Properties", {"fields": names})] if names else []
