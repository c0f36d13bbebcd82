"""Personal API tokens: issued (shown once) and revoked by their owners."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import reverse

from resourcemanager.identity.models import ApiToken
from resourcemanager.identity.tokens import issue_token, revoke_token
from resourcemanager.ui import once
from resourcemanager.ui.admin.permissions import username, users_shown

#: The add form's fields: the token is shown in the answer to its POST, so the form acts
#: once (``resourcemanager.ui.once``).
ADD_FIELDS = ["name", "expires_in_days", once.FIELD]


class IssueTokenForm(forms.ModelForm):
    expires_in_days = forms.IntegerField(
        min_value=0, max_value=3650, initial=settings.RM_API_TOKEN_DEFAULT_DAYS,
        help_text="0: never expires",
    )
    once = forms.CharField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = ApiToken
        fields = ["name"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Everyone manages their own tokens; operators see and revoke all."""

    fields = ["user", "name", "hint", "created_at", "expires_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    list_display = fields
    actions = ["revoke_selected"]

    def get_queryset(self, request):
        tokens = super().get_queryset(request).select_related("user")
        return tokens if request.user.is_superuser else tokens.filter(user=request.user)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = IssueTokenForm
            kwargs["fields"] = ADD_FIELDS
        return super().get_form(request, obj, change=change, **kwargs)

    def get_changeform_initial_data(self, request):
        """The add form's one-time token: this request's own (the form class's fields are
        shared by every thread, so it is never set on them)."""
        return {**super().get_changeform_initial_data(request),
                once.FIELD: once.new_token(request)}

    def get_fields(self, request, obj=None):
        return ADD_FIELDS if obj is None else self.get_readonly_fields(request, obj)

    def add_view(self, request, form_url="", extra_context=None):
        if request.method == "POST" and once.sent_before(request):  # its answer reloaded
            return once.back_from_get(self, request,
                                      reverse("admin:resourcemanager_apitoken_changelist"))
        return super().add_view(request, form_url, extra_context)

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else users_shown(request, self.readonly_fields, ["user"])

    @admin.display(description="user")
    def user_name(self, token: ApiToken) -> str:
        return username(token.user)

    def save_model(self, request, obj, form, change):
        token, plaintext = issue_token(
            request.user, obj.name,
            expires_in_days=form.cleaned_data["expires_in_days"] or None,
        )
        obj.pk = token.pk
        request._rm_issued_token = plaintext

    def response_add(self, request, obj, post_url_continue=None):
        """Show the new token in this response only; it is stored nowhere in the clear."""
        context = {**self.admin_site.each_context(request), "token": obj,
                   "plaintext": request._rm_issued_token, "opts": self.opts,
                   "title": "Your new API token"}
        return TemplateResponse(request, "admin/resourcemanager/apitoken/issued.html", context)

    def has_module_permission(self, request):
        return request.user.is_active

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and (
            obj is None or request.user.is_superuser or obj.user_id == request.user.pk
        )

    def has_add_permission(self, request):
        return request.user.is_active

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # revoked tokens stay listed for the record

    @admin.action(description="Revoke selected tokens")
    def revoke_selected(self, request, queryset):
        revoked = 0
        for token in queryset:  # the queryset is already the user's own (or all: operators)
            revoke_token(request.user.get_username(), token)
            revoked += 1
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)
