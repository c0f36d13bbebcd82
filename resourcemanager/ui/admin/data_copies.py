"""CLEANUP and CLONE in the admin: a page of each from a resource's page (the cleanup
after a confirmation naming the resource), and the read-only lists of cleanups and
clones. Every change goes through the cleanup and clone services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, reverse
from django.utils.html import format_html

from providers.models import Provider
from resourcemanager.backups import cleanups, clones
from resourcemanager.backups.models import Backup, Cleanup, Clone, RunStatus
from resourcemanager.identity.principals import principal_of
from resourcemanager.identity.roles import Action
from resourcemanager.resources import failures
from resourcemanager.resources.models import Resource
from resourcemanager.ui.admin.permissions import ResourceRunPages, can_on
from resourcemanager.ui.admin.resource_pages import (
    Visible,
    resource_form_page,
    resource_page_path,
)
from resourcemanager.ui.adminscope import CurrentScopeAdmin


def data_copy_urls(model_admin: admin.ModelAdmin, visible: Visible) -> list[URLPattern]:
    """The resource admin's *Clean up…* and *Clone…* pages."""
    return [resource_page_path(model_admin, visible, "cleanup", cleanup_page),
            resource_page_path(model_admin, visible, "clone", clone_page)]


def data_copy_panel(request: HttpRequest, resource: Resource) -> dict[str, Any]:
    """Whether a resource's page offers *Clean up…* and *Clone…*, and where they are."""
    pk = quote(resource.pk)
    return {
        "rm_can_copy": _may_copy(request, resource),
        "rm_can_clean_up": _may_copy(request, resource) and (
            resource.provider.adapter_class.empties),
        "rm_cleanup_url": reverse("admin:resourcemanager_resource_cleanup", args=[pk]),
        "rm_clone_url": reverse("admin:resourcemanager_resource_clone", args=[pk]),
    }


class CleanupForm(forms.Form):
    confirm = forms.CharField(label="Resource name", max_length=63,
                              help_text="Type the resource's name to drop all its data.")
    template = forms.ChoiceField(label="Then restore", required=False,
                                 help_text="A backup of the scope restored once it is empty.")

    def __init__(self, *args: Any, resource: Resource, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        usable = Backup.objects.filter(
            scope=resource.scope, status=RunStatus.COMPLETED,
            format=resource.provider.adapter_class.dump_format).select_related("resource")
        self.fields["template"].choices = [("", "nothing: leave it empty")] + [
            (str(backup.pk), f"{backup.resource} at {backup.created_at:%Y-%m-%d %H:%M}")
            for backup in usable[:100]]


class CloneForm(forms.Form):
    name = forms.CharField(label="New resource's name", max_length=63)
    provider = forms.ChoiceField(label="On", help_text="An instance of the same class.")

    def __init__(self, *args: Any, resource: Resource, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        instances = Provider.objects.usable_in(resource.scope).filter(
            provider_class=resource.provider.provider_class).order_by("key")
        self.fields["provider"].choices = [(each.key, each.key) for each in instances]
        self.fields["provider"].initial = resource.provider.key


def cleanup_page(model_admin: admin.ModelAdmin, request: HttpRequest, resource: Resource
                 ) -> HttpResponse:
    """GET: the confirmation naming the resource; POST: CLEANUP, then its page."""
    form = CleanupForm(request.POST or None, resource=resource)
    return _page(model_admin, request, resource, form, lambda data: cleanups.request_cleanup(
        principal_of(request), resource, confirm=data["confirm"],
        template=data["template"] or None), {
        "title": f"Clean up {resource}",
        "rm_intro": "Cleaning up drops every table, view and other object of its data; the "
                    "resource and its credentials stay and keep working.",
        "rm_submit": f"Drop all the data of {resource.name}",
    })


def clone_page(model_admin: admin.ModelAdmin, request: HttpRequest, resource: Resource
               ) -> HttpResponse:
    """GET: the new resource's name and instance; POST: CLONE, then the source's page."""
    form = CloneForm(request.POST or None, resource=resource)
    return _page(model_admin, request, resource, form, lambda data: clones.request_clone(
        principal_of(request), resource, name=data["name"], provider=data["provider"]), {
        "title": f"Clone {resource}",
        "rm_intro": "Cloning makes a new resource of the scope with a copy of this one's "
                    "data and a login of its own; if the copy fails, the new resource is "
                    "deleted.",
        "rm_submit": "Clone",
    })


def _page(model_admin: admin.ModelAdmin, request: HttpRequest, resource: Resource,
          form: forms.Form, request_it: Callable[[dict], Cleanup | Clone],
          context: dict[str, Any]) -> HttpResponse:
    if not _may_copy(request, resource):
        raise PermissionDenied
    return resource_form_page(model_admin, request, resource, form, request_it,
                              lambda run: _report(model_admin, request, run), context)


def _report(model_admin: admin.ModelAdmin, request: HttpRequest, run: Cleanup | Clone
            ) -> None:
    """How the run went, as far as it went (it ran here, or it is queued)."""
    run.refresh_from_db()
    what = "clone" if isinstance(run, Clone) else "cleanup"
    if run.status == RunStatus.COMPLETED:
        model_admin.message_user(request, f"The {what} is done.", messages.SUCCESS)
    elif run.status == RunStatus.FAILED:
        shown = failures.tenant_message(run.status_message, run.resource.provider)
        model_admin.message_user(request, f"The {what} failed: {shown}", messages.ERROR)
    else:
        model_admin.message_user(request, f"The {what} is queued: its list shows how it went.")


def _may_copy(request: HttpRequest, resource: Resource) -> bool:
    return (resource.managed and resource.status == Resource.Status.READY
            and bool(resource.provider.adapter_class.dump_format)
            and can_on(request, Action.MANAGE_RESOURCE, resource))


class _RunAdmin(ResourceRunPages, CurrentScopeAdmin, admin.ModelAdmin):
    """A read-only list of runs of the current scope."""

    view_action = Action.VIEW_RESOURCE
    actions = None
    list_filter = ["status", "scope"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("resource__provider")

    @admin.display(description="resource", ordering="resource__name")
    def resource_shown(self, run: Cleanup | Clone) -> str:
        return _link(run.resource)

    @admin.display(description="status message")
    def message(self, run: Cleanup | Clone) -> str:
        return failures.tenant_message(run.status_message, run.resource.provider)


@admin.register(Cleanup)
class CleanupAdmin(_RunAdmin):
    list_display = ["created_at", "resource_shown", "status", "duration", "created_by", "scope"]
    fields = ["id", "scope", "resource_shown", "template", "status", "message", "duration",
              "created_by", "created_at", "started_at", "completed_at"]
    readonly_fields = fields


@admin.register(Clone)
class CloneAdmin(_RunAdmin):
    list_display = ["created_at", "source_shown", "resource_shown", "status", "copied",
                    "duration", "created_by", "scope"]
    fields = ["id", "scope", "source_shown", "resource_shown", "status", "message", "copied",
              "duration", "created_by", "created_at", "started_at", "completed_at"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("source")

    @admin.display(description="source", ordering="source__name")
    def source_shown(self, clone: Clone) -> str:
        return _link(clone.source)


def _link(resource: Resource) -> str:
    url = reverse("admin:resourcemanager_resource_change", args=[quote(resource.pk)])
    return format_html('<a href="{}">{}</a>', url, resource)
