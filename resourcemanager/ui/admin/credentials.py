"""Credentials: the list of the current scope's, a read-only page each, and RENEW, ROTATE,
REVEAL and REVOKE from that page. Every change goes through the credential service.

Who sees which credential is the queryset's rule (``Credential.objects.visible_to``):
RESOURCE_ADMIN and ADMIN all of the scope's, every member those it holds itself
(``user:<username>``). Anything else, another scope's included, is a page that never was.
No page reached by GET, and no list, carries a secret.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
)
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from resourcemanager.core.errors import ServiceError
from resourcemanager.identity.principals import principal_of
from resourcemanager.identity.roles import Action, Principal
from resourcemanager.resources import credentials, failures
from resourcemanager.resources.models import OWNER_HOLDER, Credential
from resourcemanager.ui import once
from resourcemanager.ui.admin.permissions import can_anywhere, can_on, history
from resourcemanager.ui.adminscope import CurrentScopeAdmin
from resourcemanager.ui.credential_pages import (
    RenewForm,
    RotateForm,
    credential_url,
    form_errors,
    secret_page,
)

Status = Credential.Status
#: Statuses in which a credential has a working secret.
LIVE = (Status.ACTIVE, Status.ROTATING)
#: The pages of one credential that act on it (all POST; revoke confirms on GET).
OPERATIONS = ("renew", "rotate", "reveal", "revoke")


def label(credential: Credential) -> str:
    """How the pages name a credential: ``reports (read-only) on team-a/orders``."""
    return f"{credential.holder} ({credential.access}) on {credential.resource}"


def revocation_summary(credential: Credential) -> str:
    """What revoking ``credential`` ends, in the words of its confirmation page."""
    adapter = credential.resource.provider.adapter_class
    replaced = " and the logins replaced by its rotations" if credential.retiring else ""
    return (
        f"{credential.holder} loses its {credential.access} access to {credential.resource}:"
        f" {adapter.login_noun} {credential.login}{replaced} dropped on the server, their"
        " open sessions ended"
    )


@admin.register(Credential)
class CredentialAdmin(CurrentScopeAdmin, admin.ModelAdmin):
    """Credentials of the current scope; issued on a resource's page, never edited here."""

    view_action = Action.VIEW_CREDENTIAL
    list_display = ["holder", "access", "resource_shown", "status", "expires", "last_rotated",
                    "scope"]
    list_filter = ["status", "access", ("resource", admin.RelatedOnlyFieldListFilter),
                   "scope"]
    search_fields = ["holder"]
    actions = None
    # The status, with its message, heads the page (change_form.html).
    fields = ["id", "scope", "resource_shown", "holder", "access", "username", "expires_at",
              "max_expires_at", "ttl_shown", "rotation_period_shown", "next_rotation_at",
              "rotated_at", "issued_by", "created_at", "updated_at", "revoked_at"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("resource__provider")

    def get_urls(self):
        own = [
            path(f"<path:object_id>/{name}/", self.admin_site.admin_view(getattr(self, name)),
                 name=f"resourcemanager_credential_{name}")
            for name in OPERATIONS
        ]
        return own + super().get_urls()

    @admin.display(description="resource", ordering="resource__name")
    def resource_shown(self, credential: Credential) -> str:
        url = reverse("admin:resourcemanager_resource_change",
                      args=[quote(credential.resource_id)])
        return format_html('<a href="{}">{}</a>', url, credential.resource)

    @admin.display(description="expires", ordering="expires_at")
    def expires(self, credential: Credential):
        return credential.expires_at or "never"

    @admin.display(description="last rotated", ordering="rotated_at")
    def last_rotated(self, credential: Credential):
        return credential.rotated_at or "never"

    @admin.display(description="username")
    def username(self, credential: Credential) -> str:
        return credential.login

    @admin.display(description="TTL (seconds, what a renewal extends it by)")
    def ttl_shown(self, credential: Credential):
        return credential.ttl or "none: it does not expire"

    @admin.display(description="rotation period (seconds)")
    def rotation_period_shown(self, credential: Credential):
        return credential.rotation_period or "none: rotated when asked"

    # --- one credential's page --------------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        credential = self.get_queryset(request).with_id(unquote(object_id))
        if credential is not None:
            extra_context = {**(extra_context or {}), **self._detail(request, credential)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _detail(self, request: HttpRequest, credential: Credential) -> dict[str, Any]:
        """What the credential's page shows besides its fields (the page's template)."""
        change = credentials.may_change(principal_of(request), credential.scope,
                                        credential.holder)
        message = credential.status_message
        if not request.user.is_superuser:
            message = failures.tenant_message(message, credential.resource.provider)
        return {
            "subtitle": label(credential),
            "rm_credential": credential,
            "rm_label": label(credential),
            "rm_status_message": message,
            "rm_urls": {name: reverse(f"admin:resourcemanager_credential_{name}",
                                      args=[quote(credential.pk)]) for name in OPERATIONS},
            # Their answers show a secret: reloading one must not send its form again.
            "rm_once": {name: once.new_token(request) for name in ("reveal", "rotate")},
            # Whoever sees a credential may reveal it: its holder, or a credential manager.
            "rm_can_reveal": credential.status in LIVE,
            "rm_can_renew": change and credential.status in LIVE
            and credential.expires_at is not None,
            "rm_can_rotate": can_on(request, Action.MANAGE_CREDENTIAL, credential)
            and credential.status == Status.ACTIVE,
            # The owner's credential ends with its resource only.
            "rm_can_revoke": change and credential.holder != OWNER_HOLDER
            and credential.status not in (Status.REVOKING, Status.REVOKED),
            **history(request, credential),
        }

    def _visible(self, request: HttpRequest, object_id: str) -> Credential:
        """The credential if the user may see it; 404 alike for other scopes' and unknown
        ids."""
        credential = self.get_queryset(request).with_id(unquote(object_id))
        if credential is None:
            raise Http404("no such credential")
        return credential

    def _changeable(self, request: HttpRequest, object_id: str) -> Credential:
        """The credential if the user may renew and revoke it: a credential manager, or
        its holder where the scope's self-service allows (403 if it may only see it)."""
        credential = self._visible(request, object_id)
        if not credentials.may_change(principal_of(request), credential.scope,
                                      credential.holder):
            raise PermissionDenied
        return credential

    def _rotatable(self, request: HttpRequest, object_id: str) -> Credential:
        """The credential if the user manages the scope's credentials (403 if not)."""
        credential = self._visible(request, object_id)
        if not can_on(request, Action.MANAGE_CREDENTIAL, credential):
            raise PermissionDenied
        return credential

    def _ask(
        self, request: HttpRequest, credential: Credential,
        operation: Callable[[Principal, Credential], Any],
    ) -> Any:
        """``operation`` as the request's principal; a refusal becomes an error message
        (and None)."""
        try:
            return operation(principal_of(request), credential)
        except ServiceError as error:
            self.message_user(request, f"{credential.holder}: {error.message}",
                              messages.ERROR)
            return None

    def _back_from_get(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """A GET of an operation, or its form sent again (its secret page reloaded): the
        credential's page."""
        return once.back_from_get(self, request,
                                  credential_url(self._visible(request, object_id)))

    def renew(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST ``ttl`` (optional): RENEW, then back to the credential's page."""
        if request.method != "POST":
            return self._back_from_get(request, object_id)
        credential = self._changeable(request, object_id)
        form = RenewForm(request.POST)
        if not form.is_valid():
            self.message_user(request, form_errors(form), messages.ERROR)
        elif renewed := self._ask(request, credential, lambda principal, each:
                                  credentials.renew_credential(principal, each,
                                                               **form.cleaned_data)):
            self.message_user(request, f"Renewed: {renewed.holder}'s credential expires "
                              f"{renewed.expires_at:%Y-%m-%d %H:%M:%S %Z}.", messages.SUCCESS)
        return HttpResponseRedirect(credential_url(credential))

    def rotate(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST ``grace`` (optional): ROTATE, then the new secret, shown once."""
        if request.method != "POST" or once.sent_before(request):
            return self._back_from_get(request, object_id)
        credential = self._rotatable(request, object_id)
        form = RotateForm(request.POST)
        if not form.is_valid():
            self.message_user(request, form_errors(form), messages.ERROR)
            return HttpResponseRedirect(credential_url(credential))
        rotated = self._ask(request, credential, lambda principal, each:
                            credentials.rotate_credential(principal, each,
                                                          **form.cleaned_data))
        if rotated is None:
            return HttpResponseRedirect(credential_url(credential))
        rotated_credential, secret = rotated
        return secret_page(
            self, request, rotated_credential, secret, once=True,
            title=f"New secret of {rotated_credential.holder}'s credential",
            note=f"It works once the rotation is done (status active again). The replaced "
            f"password keeps working for {rotated_credential.rotation_grace} seconds more.",
        )

    def reveal(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST: REVEAL (audited), then the current secret."""
        if request.method != "POST" or once.sent_before(request):
            return self._back_from_get(request, object_id)
        credential = self._visible(request, object_id)
        secret = self._ask(request, credential, credentials.reveal_credential)
        if secret is None:
            return HttpResponseRedirect(credential_url(credential))
        return secret_page(
            self, request, credential, secret, once=False,
            title=f"Secret of {credential.holder}'s credential",
            note="This reveal is recorded in the audit trail.",
        )

    def revoke(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET: a confirmation naming what is revoked; POST ``post=yes``: REVOKE."""
        credential = self._changeable(request, object_id)
        if request.method == "POST" and request.POST.get("post") == "yes":
            if revoked := self._ask(request, credential, credentials.revoke_credential):
                revoked.refresh_from_db()  # done already where tasks run in this process
                self.message_user(request, f"{revoked.holder}'s credential: "
                                  f"{revoked.get_status_display()}.", messages.SUCCESS)
            return HttpResponseRedirect(credential_url(credential))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Are you sure?",
            "object": credential,
            "rm_label": label(credential),
            "rm_credential_url": credential_url(credential),
            "rm_summary": revocation_summary(credential),
        }
        return TemplateResponse(
            request, "admin/resourcemanager/credential/revoke_confirmation.html", context)

    # --- permissions: seen as the queryset says; changed by the operations only ----------

    def has_module_permission(self, request):
        return can_anywhere(request, Action.VIEW_RESOURCE)  # every member holds some

    def has_view_permission(self, request, obj=None):
        if obj is None:
            return self.has_module_permission(request)
        return self.get_queryset(request).with_id(obj.pk) is not None

    def has_add_permission(self, request):
        return False  # issued on the resource's page

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # revoked credentials stay listed for the record
