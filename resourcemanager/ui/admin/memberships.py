"""Scope memberships: granted by username and revoked, under the membership rules."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse

from resourcemanager.core.errors import ServiceError
from resourcemanager.identity.memberships import (
    can_revoke,
    check_grant,
    grant_role,
    revoke_refusal,
    revoke_role,
)
from resourcemanager.identity.models import ScopeRole
from resourcemanager.identity.principals import principal_of
from resourcemanager.identity.roles import Action
from resourcemanager.ui.admin.permissions import apply_each, can_anywhere, can_on
from resourcemanager.ui.admin.refusals import ServiceSaveAdmin
from resourcemanager.ui.adminscope import CurrentScopeAdmin


class ScopeRoleForm(forms.ModelForm):
    """A membership is granted by username; checked by the membership rules."""

    username = forms.CharField()

    class Meta:
        model = ScopeRole
        fields = ["scope", "role"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            user, _, _ = check_grant(
                principal_of(self.request), data["username"], data["scope"], data["role"]
            )
        except ServiceError as exc:
            raise ValidationError(exc.message) from None
        self.instance.user = user
        return data


@admin.register(ScopeRole)
class ScopeRoleAdmin(ServiceSaveAdmin, CurrentScopeAdmin, admin.ModelAdmin):
    """Operators manage every scope's memberships, a scope's ADMINs their own scope's."""

    view_action = Action.MANAGE_MEMBERSHIP
    form = ScopeRoleForm
    list_display = ["user", "scope", "role"]
    list_filter = ["role", "scope"]
    search_fields = ["user__username"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["fields"] = ["username", "scope", "role"]
        form = super().get_form(request, obj, change=change, **kwargs)
        form.request = request
        return form

    @admin.display(description="username")
    def username(self, membership: ScopeRole) -> str:
        """A membership's page (read-only) names its user as the add form asks for it."""
        return membership.user.get_username()

    def save_model(self, request, obj, form, change):
        saved = grant_role(principal_of(request), obj.user, obj.scope, obj.role)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        revoke_role(principal_of(request), obj)

    def get_deleted_objects(self, objs, request):
        """Why the membership rules keep any of the memberships to delete (the page says
        it instead of a missing permission to delete scope roles)."""
        memberships = list(objs)
        deleted, counts, _, protected = super().get_deleted_objects(memberships, request)
        principal = principal_of(request)
        kept = [f"{membership}: {why}" for membership in memberships
                if (why := revoke_refusal(principal, membership))]
        return deleted, counts, kept, protected

    def delete_queryset(self, request, queryset):
        apply_each(self, request, queryset, revoke_role)

    def has_module_permission(self, request):
        return can_anywhere(request, Action.MANAGE_MEMBERSHIP)

    def has_view_permission(self, request, obj=None):
        return can_on(request, Action.MANAGE_MEMBERSHIP, obj)

    def has_add_permission(self, request):
        return can_anywhere(request, Action.MANAGE_MEMBERSHIP)

    def has_change_permission(self, request, obj=None):
        return False  # revoke and grant instead: both are audited and checked

    def has_delete_permission(self, request, obj=None):
        if obj is None:
            return can_anywhere(request, Action.MANAGE_MEMBERSHIP)
        return can_revoke(principal_of(request), obj)

    def delete_view(self, request, object_id, extra_context=None):
        """A membership the rules keep (one's own, a scope's last ADMIN), asked for by its
        delete address: back to its page, naming the rule, instead of a bare refusal."""
        membership = self.get_object(request, unquote(object_id))
        why = None if membership is None or not can_on(
            request, Action.MANAGE_MEMBERSHIP, membership) else revoke_refusal(
            principal_of(request), membership)
        if why:
            self.message_user(request, f"{membership}: {why}", messages.ERROR)
            return HttpResponseRedirect(reverse(
                "admin:resourcemanager_scoperole_change", args=[quote(membership.pk)]))
        return super().delete_view(request, object_id, extra_context)
