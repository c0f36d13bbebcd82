"""Resources: list, create from the provider's schema, detail with credentials, CHECK,
delete with a confirmation naming what is destroyed. Every change goes through a service."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.urls import path, reverse

from providers.models import Provider
from resourcemanager.backups import services as backups
from resourcemanager.core.errors import ServiceError
from resourcemanager.identity.principals import principal_of
from resourcemanager.identity.roles import Action
from resourcemanager.resources import credentials, failures, services
from resourcemanager.resources.models import Resource
from resourcemanager.ui import once
from resourcemanager.ui.admin.backups import backup_panel, report_backup
from resourcemanager.ui.admin.data_copies import data_copy_panel, data_copy_urls
from resourcemanager.ui.admin.permissions import (
    apply_each,
    can_anywhere,
    can_in_view,
    can_on,
    history,
    username,
    users_shown,
)
from resourcemanager.ui.admin.quotas import resource_limit_panel, resource_limit_urls
from resourcemanager.ui.admin.refusals import ServiceSaveAdmin
from resourcemanager.ui.admin.resource_display import (
    OUTCOME_WORDS,
    StatusListFilter,
    TagListFilter,
    credential_values,
    deletion_summary,
    last_operation,
)
from resourcemanager.ui.admin.resource_pages import resource_url
from resourcemanager.ui.admin.schema import SchemaAddAdmin
from resourcemanager.ui.adminscope import CurrentScopeAdmin, current_scope
from resourcemanager.ui.credential_pages import issue_page, may_issue
from resourcemanager.ui.resource_forms import ResourceCreateForm, change_form, create_form

#: Credentials listed on a resource's page; the rest are in the credentials list.
ISSUED_SHOWN = 20
#: The page's foreign keys to users (``users_shown``).
USERS = ["created_by"]


@admin.register(Resource)
class ResourceAdmin(ServiceSaveAdmin, SchemaAddAdmin, CurrentScopeAdmin, admin.ModelAdmin):
    """Resources of the current scope. The add and change forms show the provider's
    declared properties as fields (``resource_forms``); the add page follows the provider
    chosen in ``?provider=`` (``SchemaAddAdmin``)."""

    view_action = Action.VIEW_RESOURCE
    list_display = ["name", "scope", "provider", "type", "status", "last_check_ok", "frozen",
                    "created_at"]
    # Related-only and TagListFilter: the sidebar names only values of visible resources.
    list_filter = [("provider", admin.RelatedOnlyFieldListFilter), "type", StatusListFilter,
                   "frozen", TagListFilter, "scope"]
    search_fields = ["name"]
    actions = ["check_selected", "backup_selected", "delete_selected"]
    # Status and the last check are in the page's panels (change_form.html), not here.
    detail_fields = ["id", "scope", "provider", "type", "name", "managed", "created_by",
                     "created_at", "updated_at", "size", "size_objects", "size_measured_at",
                     "max_bytes", "frozen", "frozen_reason", "frozen_at"]
    readonly_fields = [*detail_fields, "tags_shown", "properties_shown"]
    add_fields = ["scope", "provider", "name", "tags_text"]
    reload_on = ["scope", "provider"]
    choose_label = "Show the provider's properties"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("provider")

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        own = [
            path("<path:object_id>/check/", self.admin_site.admin_view(self.check_view),
                 name="{}_{}_check".format(*info)),
            path("<path:object_id>/backup/", self.admin_site.admin_view(self.backup_view),
                 name="{}_{}_backup".format(*info)),
            path("<path:object_id>/credentials/",
                 self.admin_site.admin_view(self.credentials_view),
                 name="{}_{}_credentials".format(*info)),
            path("<path:object_id>/issue-credential/",
                 self.admin_site.admin_view(self.issue_credential_view),
                 name="{}_{}_issue_credential".format(*info)),
            *data_copy_urls(self, self._visible),
            *resource_limit_urls(self, self._visible),
        ]
        return own + super().get_urls()

    def _visible(self, request: HttpRequest, object_id: str) -> Resource:
        """The resource if the user may see it; 404 alike for other scopes' and unknown ids."""
        resource = self.get_object(request, unquote(object_id))
        if resource is None or not self.has_view_permission(request, resource):
            raise Http404("no such resource")
        return resource

    def change_view(self, request, object_id, form_url="", extra_context=None):
        resource = self.get_object(request, unquote(object_id))
        if resource is not None and self.has_view_permission(request, resource):
            extra_context = {**(extra_context or {}), **self._detail(request, resource)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _detail(self, request: HttpRequest, resource: Resource) -> dict[str, Any]:
        """What the resource's page shows besides its fields (the page's template)."""
        pk = quote(resource.pk)
        fields, snippets = credential_values(resource, reveal=False)
        no_credentials = ""
        if not fields:
            no_credentials = (
                "No credentials: the resource is deleted."
                if resource.status == Resource.Status.DELETED
                else f"No credentials yet: the resource is {resource.status}."
            )
        operation = last_operation(resource)
        return {
            "rm_resource": resource,
            "rm_last_operation": operation,
            "rm_last_operation_outcome": operation and OUTCOME_WORDS[operation.outcome],
            "rm_fields": fields,
            "rm_snippets": snippets,
            "rm_no_credentials": no_credentials,
            "rm_credentials_url": reverse("admin:resourcemanager_resource_credentials",
                                          args=[pk]),
            "rm_can_reveal": can_on(request, Action.MANAGE_CREDENTIAL, resource),
            "rm_can_check": (
                resource.managed
                and resource.status in (Resource.Status.READY, Resource.Status.ERROR)
                and can_on(request, Action.CHECK_RESOURCE, resource)
            ),
            "rm_check_url": reverse("admin:resourcemanager_resource_check", args=[pk]),
            **backup_panel(request, resource),
            **data_copy_panel(request, resource),
            **resource_limit_panel(request, resource),
            "rm_can_delete": (
                resource.status != Resource.Status.DELETED
                and self.has_delete_permission(request, resource)
            ),
            **self._issued(request, resource),
            **history(request, resource),
        }

    def _issued(self, request: HttpRequest, resource: Resource) -> dict[str, Any]:
        """The resource's credentials the user may see, and whether it may issue one."""
        pk = quote(resource.pk)
        changelist = reverse("admin:resourcemanager_credential_changelist")
        return {
            "rm_issued": credentials.credentials_of(principal_of(request),
                                                    resource)[:ISSUED_SHOWN],
            "rm_issued_url": f"{changelist}?resource__id__exact={pk}",
            "rm_sees_all_issued": can_on(request, Action.VIEW_CREDENTIAL, resource),
            "rm_can_issue": (
                resource.managed and resource.status == Resource.Status.READY
                and may_issue(principal_of(request), resource)
            ),
            "rm_issue_url": reverse("admin:resourcemanager_resource_issue_credential",
                                    args=[pk]),
        }

    def check_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST: CHECK the resource now (repairing its access), then back to its page."""
        resource = self._visible(request, object_id)
        if request.method != "POST":
            return once.back_from_get(self, request, resource_url(resource))
        if not can_on(request, Action.CHECK_RESOURCE, resource):
            raise PermissionDenied
        before, recreate = resource.last_check_at, resource.credentials is None
        try:
            services.check_resource(principal_of(request), resource)
        except ServiceError as exc:
            self.message_user(request, f"{resource}: {exc.message}", messages.ERROR)
        else:
            resource.refresh_from_db()
            self._report_check(request, resource, before, recreate=recreate)
        return HttpResponseRedirect(resource_url(resource))

    def _report_check(
        self, request: HttpRequest, resource: Resource, before: datetime | None, *,
        recreate: bool,
    ) -> None:
        """The outcome when the operation ran in this process, else that it is queued.

        A resource whose creation failed is created again instead of checked.
        """
        operator = principal_of(request).is_operator  # the server's detail is theirs only
        if recreate:
            failed = resource.status == Resource.Status.ERROR
            shown = failures.status_shown(resource, operator=operator)
            self.message_user(
                request,
                f"{resource} is created again: {resource.status}"
                + (f": {shown}" if failed else "."),
                messages.ERROR if failed else messages.INFO,
            )
        elif resource.last_check_at is not None and resource.last_check_at != before:
            ok = bool(resource.last_check_ok)
            shown = failures.check_shown(resource, operator=operator)
            self.message_user(
                request, f"Check of {resource}: {'OK' if ok else 'failed'}: {shown}",
                messages.SUCCESS if ok else messages.ERROR,
            )
        else:
            self.message_user(request, f"Check of {resource} queued: its result shows here "
                              "once done.")

    def backup_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST: BACKUP the resource now, then back to its page with how it went."""
        resource = self._visible(request, object_id)
        if request.method != "POST":
            return once.back_from_get(self, request, resource_url(resource))
        if not can_on(request, Action.MANAGE_RESOURCE, resource):
            raise PermissionDenied
        try:
            backup = backups.request_backup(principal_of(request), resource)
        except ServiceError as exc:
            self.message_user(request, f"{resource}: {exc.message}", messages.ERROR)
        else:
            report_backup(self, request, backup)
        return HttpResponseRedirect(resource_url(resource))

    def credentials_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST: the secret values of the page, for its "show" and "copy" buttons.

        They stay out of the page itself, so a password is sent only when asked for.
        """
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        resource = self._visible(request, object_id)
        try:  # audited, and for those who manage the scope's credentials only
            services.reveal_owner_credentials(principal_of(request), resource)
        except ServiceError as exc:
            raise PermissionDenied(exc.message) from None
        fields, snippets = credential_values(resource, reveal=True)
        return JsonResponse({"values": {v.id: v.value for v in [*fields, *snippets] if v.secret}})

    def issue_credential_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The issue form (RESOURCE_ADMIN, ADMIN; members for themselves where the
        scope's self-service allows); the secret is shown once after."""
        return issue_page(self, request, self._visible(request, object_id))

    def get_deleted_objects(self, objs: Iterable[Resource], request: HttpRequest):
        """Name what each deletion destroys, instead of Django's tree of related rows
        (the service marks the row deleted and drops what it made on the server)."""
        resources = list(objs)
        denied = {
            str(resource) for resource in resources
            if not can_on(request, Action.MANAGE_RESOURCE, resource)
        }
        summary = [deletion_summary(resource) for resource in resources]
        return summary, {self.opts.verbose_name_plural: len(resources)}, denied, []

    def add_form(self, request: HttpRequest) -> type[ResourceCreateForm]:
        """The add form for the scope and provider chosen so far (posted, or in the query)."""
        principal = principal_of(request)
        data = request.POST if request.method == "POST" else request.GET
        if principal.is_operator:  # any scope, typed; the service checks the provider there
            scopes, providers = None, Provider.objects.filter(enabled=True)
        else:
            scopes = principal.scopes_for(Action.MANAGE_RESOURCE)
            chosen = [s for s in (data.get("scope"), current_scope(request)) if s in scopes]
            scope = chosen[0] if chosen else next(iter(scopes), None)
            providers = Provider.objects.usable_in(scope) if scope else Provider.objects.none()
        key = data.get("provider", "")
        provider = providers.filter(pk=key).first() if key.isdigit() else None
        return create_form(principal, scopes, providers, provider)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            form = self.add_form(request)
            return [(None, {"fields": self.add_fields}), *self.property_fieldset(form.specs)]
        if not self.has_change_permission(request, obj):
            return [(None, {"fields": self.get_readonly_fields(request, obj)})]
        return [(None, {"fields": users_shown(request, self.detail_fields, USERS)}),
                ("Tags", {"fields": ["tags_text"]}),
                *self.property_fieldset(obj.provider.adapter_class.properties)]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form(request)
        elif self.has_change_permission(request, obj):
            kwargs["form"] = change_form(principal_of(request), obj)
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else users_shown(request, self.readonly_fields, USERS)

    @admin.display(description="created by")
    def created_by_name(self, obj: Resource) -> str:
        return username(obj.created_by)

    @admin.display(description="tags")
    def tags_shown(self, obj: Resource) -> str:
        return ", ".join(obj.tags) or "none"

    @admin.display(description="properties")
    def properties_shown(self, obj: Resource) -> str:
        specs = obj.provider.adapter_class.properties
        shown = [f"{name}: {'********' if spec.secret else obj.properties.get(name)}"
                 for name, spec in specs.items()]
        return "; ".join(shown) or "none"

    def save_model(self, request, obj, form, change):
        principal = principal_of(request)
        if change:
            saved = services.update_resource(principal, obj, **form.changes)
        else:
            saved = services.create_resource(principal, form.resource_request)
        obj.pk = saved.pk
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        """Resources have no related rows edited here."""

    def delete_model(self, request, obj):
        services.delete_resource(principal_of(request), obj)

    def response_delete(self, request, obj_display, obj_id):
        """The redirect ``delete_view`` finishes once the deletion's transaction is over."""
        response = HttpResponseRedirect(reverse("admin:resourcemanager_resource_changelist"))
        response.rm_deleted = obj_display, obj_id
        return response

    def delete_view(self, request, object_id, extra_context=None):
        """Say what became of the deletion, which ran on commit (here, without a broker):
        done, still to come, or failed; back to the resource unless it is gone."""
        response = super().delete_view(request, object_id, extra_context)
        display, pk = getattr(response, "rm_deleted", (None, None))
        resource = Resource.objects.select_related("provider").filter(pk=pk).first()
        if resource is None:
            return response
        if resource.status == Resource.Status.DELETED:
            self.message_user(request, f"The resource “{display}” was deleted successfully.",
                              messages.SUCCESS)
            return response
        if resource.status == Resource.Status.ERROR:
            shown = failures.status_shown(resource, operator=principal_of(request).is_operator)
            self.message_user(request, f"Deleting {display} failed: {shown}", messages.ERROR)
        else:
            self.message_user(request, f"Deletion of {display} requested: its outcome shows "
                              "here once done.")
        return HttpResponseRedirect(
            reverse("admin:resourcemanager_resource_change", args=[quote(resource.pk)]))

    def delete_queryset(self, request, queryset):
        apply_each(self, request, queryset, services.delete_resource)

    @admin.action(description="Back up selected resources", permissions=["backup"])
    def backup_selected(self, request, queryset):
        apply_each(self, request, queryset, backups.request_backup)

    @admin.action(description="Check selected resources (and repair access)",
                  permissions=["check"])
    def check_selected(self, request, queryset):
        if checked := apply_each(self, request, queryset, services.check_resource):
            self.message_user(request, f"Check of {checked} resource(s) requested: each "
                              "one's result shows on its page once done.", messages.SUCCESS)

    def has_backup_permission(self, request: HttpRequest) -> bool:
        return can_in_view(request, Action.MANAGE_RESOURCE)

    def has_check_permission(self, request: HttpRequest) -> bool:
        return can_in_view(request, Action.CHECK_RESOURCE)

    def has_module_permission(self, request):
        return can_anywhere(request, Action.VIEW_RESOURCE)

    def has_view_permission(self, request, obj=None):
        return can_on(request, Action.VIEW_RESOURCE, obj)

    def has_add_permission(self, request):
        return can_anywhere(request, Action.MANAGE_RESOURCE)

    def has_change_permission(self, request, obj=None):
        """Unmanaged resources, and those being deleted, are read-only."""
        return can_on(request, Action.MANAGE_RESOURCE, obj) and (
            obj is None
            or (obj.managed and obj.status not in (Resource.Status.DELETING,
                                                   Resource.Status.DELETED))
        )

    def has_delete_permission(self, request, obj=None):
        if obj is None:  # the bulk delete
            return can_in_view(request, Action.MANAGE_RESOURCE)
        return obj.status != Resource.Status.DELETED and can_on(
            request, Action.MANAGE_RESOURCE, obj)
