"""Admin for resources, memberships and API tokens. Every change goes through a service."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.template.response import TemplateResponse

from providers.models import Provider
from resourcemanager import services
from resourcemanager.access import Action
from resourcemanager.errors import ServiceError
from resourcemanager.identity import principal_of
from resourcemanager.memberships import can_revoke, check_grant, grant_role, revoke_role
from resourcemanager.models import ApiToken, Resource, ScopeRole
from resourcemanager.tokens import issue_token, revoke_token


def _can_anywhere(request: HttpRequest, action: Action) -> bool:
    principal = principal_of(request)
    return principal is not None and (principal.is_operator or bool(principal.scopes_for(action)))


def _can_on(request: HttpRequest, action: Action, obj: Resource | ScopeRole | None) -> bool:
    if obj is None:
        return _can_anywhere(request, action)
    principal = principal_of(request)
    return principal is not None and principal.can(action, obj.scope)


class ResourceCreateForm(forms.ModelForm):
    """Validated by the service (``prepare_resource``), which also checks access."""

    tags_text = forms.CharField(
        label="Tags", required=False, help_text="Comma-separated, e.g. analytics, staging"
    )
    properties = forms.JSONField(required=False, initial=dict)

    class Meta:
        model = Resource
        fields = ["scope", "provider", "name"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        tags = [t.strip() for t in data.get("tags_text", "").split(",") if t.strip()]
        try:
            self.resource_request = services.prepare_resource(
                principal_of(self.request),
                data["scope"],
                provider=data["provider"].key,
                name=data["name"],
                tags=tags,
                properties=data.get("properties") or {},
            )
        except ServiceError as exc:
            raise ValidationError({exc.field: exc.message} if exc.field else exc.message) from None
        return data


@admin.register(Resource)
class ResourceAdmin(admin.ModelAdmin):
    list_display = ["name", "scope", "provider", "type", "status", "last_check_ok", "created_at"]
    # Related-only: the sidebar names only providers of resources the user can see.
    list_filter = ["status", "type", ("provider", admin.RelatedOnlyFieldListFilter), "scope"]
    search_fields = ["name"]
    actions = ["check_selected", "delete_selected"]
    readonly_fields = [
        "id",
        "scope",
        "provider",
        "type",
        "name",
        "managed",
        "status",
        "status_message",
        "last_check_at",
        "last_check_ok",
        "last_check_message",
        "created_by",
        "created_at",
        "updated_at",
    ]
    fields = [*readonly_fields, "tags", "properties"]

    def get_queryset(self, request):
        return Resource.objects.visible_to(
            principal_of(request), Action.VIEW_RESOURCE
        ).select_related("provider")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ResourceCreateForm
            kwargs["fields"] = ["scope", "provider", "name", "tags_text", "properties"]
        form = super().get_form(request, obj, change=change, **kwargs)
        form.request = request
        return form

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["scope", "provider", "name", "tags_text", "properties"]
        return self.fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "provider":
            principal = principal_of(request)
            kwargs["queryset"] = (
                Provider.objects.filter(enabled=True)
                if principal.is_operator
                else Provider.objects.usable_in_any(principal.scopes_for(Action.MANAGE_RESOURCE))
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        principal = principal_of(request)
        if change:
            saved = services.update_resource(
                principal, obj, tags=obj.tags, properties=obj.properties
            )
        else:
            saved = services.create_resource(principal, form.resource_request)
        obj.pk = saved.pk
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        """Resources have no related rows edited here."""

    def delete_model(self, request, obj):
        services.delete_resource(principal_of(request), obj)

    def delete_queryset(self, request, queryset):
        principal = principal_of(request)
        for resource in queryset:
            try:
                services.delete_resource(principal, resource)
            except ServiceError as exc:
                self.message_user(request, f"{resource}: {exc.message}", messages.ERROR)

    @admin.action(description="Check selected resources (and repair access)")
    def check_selected(self, request, queryset):
        principal = principal_of(request)
        for resource in queryset:
            try:
                services.check_resource(principal, resource)
            except ServiceError as exc:
                self.message_user(request, f"{resource}: {exc.message}", messages.ERROR)

    def has_module_permission(self, request):
        return _can_anywhere(request, Action.VIEW_RESOURCE)

    def has_view_permission(self, request, obj=None):
        return _can_on(request, Action.VIEW_RESOURCE, obj)

    def has_add_permission(self, request):
        return _can_anywhere(request, Action.MANAGE_RESOURCE)

    def has_change_permission(self, request, obj=None):
        return _can_on(request, Action.MANAGE_RESOURCE, obj)

    def has_delete_permission(self, request, obj=None):
        return _can_on(request, Action.MANAGE_RESOURCE, obj)


class OperatorRowsOnly:
    """Platform rows exist only for operators: other users' lookups find nothing, so no
    page (history included) tells an existing id from a missing one."""

    @staticmethod
    def _is_operator(request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def get_queryset(self, request):
        rows = super().get_queryset(request)
        return rows if self._is_operator(request) else rows.none()


class OperatorOnlyAdmin(OperatorRowsOnly, admin.ModelAdmin):
    """Platform configuration: superusers only."""

    def has_module_permission(self, request):
        return self._is_operator(request)

    def has_view_permission(self, request, obj=None):
        return self._is_operator(request)

    def has_add_permission(self, request):
        return self._is_operator(request)

    def has_change_permission(self, request, obj=None):
        return self._is_operator(request)

    def has_delete_permission(self, request, obj=None):
        return self._is_operator(request)


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
        user = get_user_model().objects.filter(username=data["username"], is_active=True).first()
        if user is None:
            raise ValidationError({"username": "no active user with this username"})
        try:
            check_grant(principal_of(self.request), user, data["scope"], data["role"])
        except ServiceError as exc:
            raise ValidationError(exc.message) from None
        self.instance.user = user
        return data


@admin.register(ScopeRole)
class ScopeRoleAdmin(admin.ModelAdmin):
    """Operators manage every scope's memberships, a scope's ADMINs their own scope's."""

    form = ScopeRoleForm
    list_display = ["user", "scope", "role"]
    list_filter = ["role", "scope"]
    search_fields = ["user__username"]

    def get_queryset(self, request):
        return ScopeRole.objects.visible_to(
            principal_of(request), Action.MANAGE_MEMBERSHIP
        ).select_related("user")

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["fields"] = ["username", "scope", "role"]
        form = super().get_form(request, obj, change=change, **kwargs)
        form.request = request
        return form

    def save_model(self, request, obj, form, change):
        saved = grant_role(principal_of(request), obj.user, obj.scope, obj.role)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        revoke_role(principal_of(request), obj)

    def delete_queryset(self, request, queryset):
        for membership in queryset:
            try:
                revoke_role(principal_of(request), membership)
            except ServiceError as exc:
                self.message_user(request, f"{membership}: {exc.message}", messages.ERROR)

    def has_module_permission(self, request):
        return _can_anywhere(request, Action.MANAGE_MEMBERSHIP)

    def has_view_permission(self, request, obj=None):
        return _can_on(request, Action.MANAGE_MEMBERSHIP, obj)

    def has_add_permission(self, request):
        return _can_anywhere(request, Action.MANAGE_MEMBERSHIP)

    def has_change_permission(self, request, obj=None):
        return False  # revoke and grant instead: both are audited and checked

    def has_delete_permission(self, request, obj=None):
        if obj is None:
            return _can_anywhere(request, Action.MANAGE_MEMBERSHIP)
        return can_revoke(principal_of(request), obj)


class IssueTokenForm(forms.ModelForm):
    expires_in_days = forms.IntegerField(
        min_value=0, max_value=3650, initial=settings.RM_API_TOKEN_DEFAULT_DAYS,
        help_text="0: never expires",
    )

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
            kwargs["fields"] = ["name", "expires_in_days"]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ["name", "expires_in_days"] if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

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
        for token in queryset:  # the queryset is already the user's own (or all: operators)
            revoke_token(request.user.get_username(), token)


admin.site.unregister(get_user_model())
admin.site.unregister(Group)


@admin.register(get_user_model())
class OperatorUserAdmin(OperatorRowsOnly, UserAdmin):
    pass


@admin.register(Group)
class OperatorGroupAdmin(OperatorRowsOnly, GroupAdmin):
    pass
