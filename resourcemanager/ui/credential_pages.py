"""The admin's credential pages that the resource's page and the credentials' pages share:
the forms of ISSUE, RENEW and ROTATE, the issue page, and the page that shows a secret.

A form only reads what was typed; the credential service judges it and makes the change.
A secret is shown on the answer to the POST that issued, rotated or revealed it, never in
a URL, a list or a page reached by GET, and never kept by a cache.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from providers.adapters.base import Credentials
from resourcemanager.core.errors import ServiceError
from resourcemanager.core.validation import MAX_SECONDS
from resourcemanager.identity.principals import principal_of
from resourcemanager.identity.roles import Action, Principal
from resourcemanager.resources import credentials
from resourcemanager.resources.models import USER_HOLDER, Credential, Resource
from resourcemanager.ui import once
from resourcemanager.ui.snippets import shown_values


def seconds_field(label: str, help_text: str) -> forms.IntegerField:
    """An optional number of seconds; empty is None (the service's default)."""
    return forms.IntegerField(label=label, required=False, min_value=0,
                              max_value=MAX_SECONDS, help_text=help_text)


class IssueCredentialForm(forms.Form):
    holder = forms.CharField(
        max_length=160,
        help_text="Who uses it: an application's name (lowercase letters, digits, "
        "<code>. _ -</code>) or <code>user:&lt;username&gt;</code> for a person, who "
        "then sees it and may reveal it.")
    access = forms.ChoiceField(choices=Credential.Access.choices,
                               initial=Credential.Access.READ_ONLY)
    ttl = seconds_field("TTL (seconds)", "It expires so many seconds from now; renewing "
                        "extends it by as much. Empty: valid until revoked.")
    max_ttl = seconds_field("Max TTL (seconds)", "No renewal reaches past so many seconds "
                            "from now (with a TTL only). Empty: the server's ceiling.")
    rotation_period = seconds_field("Rotation period (seconds)", "Rotated to a new "
                                    "password on this schedule. Empty: never.")

    def __init__(self, *args: Any, own_holder: str | None = None, **kwargs: Any) -> None:
        """``own_holder``: the member's self-service, for itself only (the holder is
        fixed)."""
        super().__init__(*args, **kwargs)
        if own_holder is not None:
            holder = self.fields["holder"]
            holder.initial, holder.disabled = own_holder, True
            holder.help_text = ("Self-service: you issue credentials for yourself, up to "
                                "the access level the scope allows.")


class RenewForm(forms.Form):
    ttl = seconds_field("TTL (seconds)", "Empty: the credential's own TTL.")


class RotateForm(forms.Form):
    grace = seconds_field("Grace (seconds)", "How long the replaced password keeps "
                          "working. Empty: the server's default.")


def service_error_in(form: forms.Form, error: ServiceError) -> None:
    """The service's refusal, beside the field it names where ``form`` has that field."""
    form.add_error(error.field if error.field in form.fields else None, error.message)


def form_errors(form: forms.Form) -> str:
    """A form's errors as one sentence, for a message."""
    parts = []
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else None
        parts.append(f"{label}: {' '.join(errors)}" if label else " ".join(errors))
    return "; ".join(parts)


def credential_url(credential: Credential) -> str:
    return reverse("admin:resourcemanager_credential_change", args=[quote(credential.pk)])


def own_holder(principal: Principal) -> str:
    """The holder of the credentials ``principal`` holds itself."""
    return f"{USER_HOLDER}{principal.name}"


def may_issue(principal: Principal | None, resource: Resource) -> bool:
    """Credential managers issue for anyone; a member for itself, where the scope's
    self-service allows."""
    return principal is not None and credentials.may_change(
        principal, resource.scope, own_holder(principal))


def issue_page(
    model_admin: admin.ModelAdmin, request: HttpRequest, resource: Resource
) -> HttpResponse:
    """GET: the issue form of ``resource``; POST: ISSUE, then its secret, shown once."""
    principal = principal_of(request)
    if not may_issue(principal, resource):
        raise PermissionDenied
    resource_url = reverse("admin:resourcemanager_resource_change", args=[quote(resource.pk)])
    if request.method == "POST" and once.sent_before(request):  # its secret page reloaded
        return once.back_from_get(model_admin, request, resource_url)
    manager = principal.can(Action.MANAGE_CREDENTIAL, resource.scope)
    form = IssueCredentialForm(request.POST if request.method == "POST" else None,
                               own_holder=None if manager else own_holder(principal))
    if form.is_bound and form.is_valid():
        try:
            credential, secret = credentials.issue_credential(
                principal, resource, **form.cleaned_data)
        except ServiceError as error:
            service_error_in(form, error)
        else:
            return secret_page(
                model_admin, request, credential, secret,
                title=f"New credential for {credential.holder}",
                once=True,
            )
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Resource._meta,
        "title": f"Issue a credential on {resource}",
        "rm_resource": resource,
        "rm_resource_url": resource_url,
        "rm_once": once.new_token(request),
        "form": form,
        "errors": form.non_field_errors(),
    }
    return TemplateResponse(
        request, "admin/resourcemanager/resource/issue_credential.html", context)


def secret_page(
    model_admin: admin.ModelAdmin, request: HttpRequest, credential: Credential,
    secret: Credentials | None, *, title: str, once: bool, note: str = "",
) -> HttpResponse:
    """``secret`` with its ready-to-paste snippets; ``once``: it is not shown again.

    ``secret`` None: the backend makes it (S3 keys). It is shown when the run is done
    already (tasks run in this process), else the page says how to get it.
    """
    credential.refresh_from_db()  # a task run in this process may have finished already
    if secret is None and credential.status == Credential.Status.ACTIVE:
        secret = Credentials.from_dict(credential.secret)
    fields, snippets = ([], []) if secret is None else shown_values(
        credential.resource.provider.adapter(), secret)
    context: dict[str, Any] = {
        **model_admin.admin_site.each_context(request),
        "opts": Credential._meta,
        "title": title,
        "rm_credential": credential,
        "rm_credential_url": credential_url(credential),
        "rm_once": once,
        "rm_note": note,
        "rm_fields": fields,
        "rm_snippets": snippets,
    }
    response = TemplateResponse(request, "admin/resourcemanager/credential/secret.html",
                                context)
    # For the person who asked, never for a cache on the way (the admin adds the rest).
    response["Cache-Control"] = "no-store"
    return response
