"""Admin forms saved, and objects deleted, through a service: what the service refuses only
when the change is made (a full quota, a name taken, a state changed since the page was
read) shows on the page again, as a validation error would, and nothing is changed."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from resourcemanager.backups.services import ConfirmationRequired
from resourcemanager.core.errors import ServiceError
from resourcemanager.ui.schema_forms import raise_as_form_error

#: Where the refusal of the first try waits for the form shown again.
REFUSAL = "_rm_save_refusal"


def shown_refusal(refusal: ServiceError) -> str:
    """The refusal in a page's words: a missing confirmation asks for the resource's name
    to be typed, where the API's message names its request field."""
    if isinstance(refusal, ConfirmationRequired):
        return f"{refusal.consequence}; to confirm, type the resource's name: {refusal.name}"
    return refusal.message


def refused_form(form: type[forms.BaseForm], refusal: ServiceError) -> type[forms.BaseForm]:
    """``form`` that is invalid with ``refusal`` once its own checks have passed."""

    class RefusedForm(form):
        def clean(self) -> dict[str, Any]:
            data = super().clean()
            if not self.errors:
                raise_as_form_error(self, refusal)
            return data

    return RefusedForm


class ServiceSaveAdmin:
    """Mixin of a model admin whose ``save_model`` and ``delete_model`` call a service: a
    refusal there rolls back the save's (or deletion's) transaction and shows the posted
    form (or the deletion's confirmation page) again with it."""

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceError as refusal:
            if request.method != "POST" or hasattr(request, REFUSAL):
                raise
            setattr(request, REFUSAL, refusal)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False,
                 **kwargs: Any) -> type[forms.BaseForm]:
        form = super().get_form(request, obj, change=change, **kwargs)
        refusal = getattr(request, REFUSAL, None)
        return form if refusal is None else refused_form(form, refusal)

    def delete_view(self, request: HttpRequest, object_id: str,
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except ServiceError as refusal:
            if request.method != "POST":
                raise
            self.message_user(request, refusal.message, messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())
