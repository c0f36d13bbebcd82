"""Backups: the current scope's list and a backup's page, read-only, with *Restore…*
(after a confirmation that names the resource whose data it replaces). Backups are made
from a resource's page or list; every change goes through the backup services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from resourcemanager.backups import services as backups
from resourcemanager.backups.models import Backup, RunStatus
from resourcemanager.core.errors import ServiceError
from resourcemanager.identity.principals import principal_of
from resourcemanager.identity.roles import Action
from resourcemanager.resources import failures
from resourcemanager.resources.models import Resource
from resourcemanager.ui.admin.permissions import ResourceRunPages, can_on
from resourcemanager.ui.admin.refusals import shown_refusal
from resourcemanager.ui.adminscope import CurrentScopeAdmin

#: Backups listed on a resource's page; the rest are in the backups list.
BACKUPS_SHOWN = 5


def backup_panel(request: HttpRequest, resource: Resource) -> dict[str, Any]:
    """What a resource's page shows of its backups and restores (how far a running one
    got), and whether *Back up now* is there."""
    pk = quote(resource.pk)
    changelist = reverse("admin:resourcemanager_backup_changelist")
    return {
        "rm_backups": backups.backups_of(principal_of(request), resource)[:BACKUPS_SHOWN],
        "rm_restores": backups.restores_of(principal_of(request), resource)[:BACKUPS_SHOWN],
        "rm_backups_url": f"{changelist}?resource__id__exact={pk}",
        "rm_can_backup": (
            resource.managed and resource.status == Resource.Status.READY
            and bool(resource.provider.adapter_class.dump_format)
            and can_on(request, Action.MANAGE_RESOURCE, resource)
        ),
        "rm_backup_url": reverse("admin:resourcemanager_resource_backup", args=[pk]),
    }


def report_backup(model_admin: admin.ModelAdmin, request: HttpRequest, backup: Backup
                  ) -> None:
    """How a backup went when it ran in this process, else that it is queued."""
    backup.refresh_from_db()
    if backup.status == RunStatus.COMPLETED:
        model_admin.message_user(request, f"Backed up {backup.resource}: {backup.size} bytes.",
                                 messages.SUCCESS)
    elif backup.status == RunStatus.FAILED:
        shown = failures.tenant_message(backup.status_message, backup.resource.provider)
        model_admin.message_user(request, f"The backup of {backup.resource} failed: {shown}",
                                 messages.ERROR)
    else:
        model_admin.message_user(request, f"Backup of {backup.resource} queued: the list of "
                                 "backups shows how it went.")


class RestoreForm(forms.Form):
    confirm = forms.CharField(label="Resource name", max_length=63,
                              help_text="Type the resource's name to replace its data.")


@admin.register(Backup)
class BackupAdmin(ResourceRunPages, CurrentScopeAdmin, admin.ModelAdmin):
    view_action = Action.VIEW_RESOURCE
    list_display = ["created_at", "resource_shown", "status", "origin", "template_name", "size",
                    "duration", "created_by", "scope"]
    list_filter = ["status", "origin", ("resource", admin.RelatedOnlyFieldListFilter), "scope"]
    actions = None
    fields = ["id", "scope", "resource_shown", "status", "message", "origin", "template_name",
              "format", "size", "dump_size", "sha256", "duration", "created_by", "created_at",
              "started_at", "completed_at"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("resource__provider")

    def get_urls(self):
        own = [path("<path:object_id>/restore/", self.admin_site.admin_view(self.restore_view),
                    name="resourcemanager_backup_restore")]
        return own + super().get_urls()

    @admin.display(description="resource", ordering="resource__name")
    def resource_shown(self, backup: Backup) -> str:
        url = reverse("admin:resourcemanager_resource_change", args=[quote(backup.resource_id)])
        return format_html('<a href="{}">{}</a>', url, backup.resource)

    @admin.display(description="status message")
    def message(self, backup: Backup) -> str:
        return failures.tenant_message(backup.status_message, backup.resource.provider)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        backup = self.get_queryset(request).with_id(unquote(object_id))
        if backup is not None:
            extra_context = {**(extra_context or {}), "rm_restore_url": (
                reverse("admin:resourcemanager_backup_restore", args=[quote(backup.pk)])
                if self._may_restore(request, backup) else "")}
        return super().change_view(request, object_id, form_url, extra_context)

    def restore_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET: the confirmation naming the resource; POST: RESTORE, then its page."""
        backup = self.get_queryset(request).with_id(unquote(object_id))
        if backup is None:
            raise Http404("no such backup")
        if not self._may_restore(request, backup):
            raise PermissionDenied
        resource = backup.resource
        form = RestoreForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                restore = backups.request_restore(principal_of(request), resource,
                                                  backup=str(backup.pk),
                                                  confirm=form.cleaned_data["confirm"])
            except ServiceError as exc:
                form.add_error("confirm" if exc.field == "confirm" else None,
                               shown_refusal(exc))
            else:
                restore.refresh_from_db()
                self._report(request, restore)
                return HttpResponseRedirect(reverse(
                    "admin:resourcemanager_resource_change", args=[quote(resource.pk)]))
        return TemplateResponse(request, "admin/resourcemanager/backup/restore.html", {
            **self.admin_site.each_context(request), "opts": self.opts, "form": form,
            "rm_backup": backup, "rm_resource": resource,
            "rm_resource_url": reverse("admin:resourcemanager_resource_change",
                                       args=[quote(resource.pk)]),
        })

    def _report(self, request: HttpRequest, restore: Any) -> None:
        if restore.status == RunStatus.COMPLETED:
            self.message_user(request, f"Restored backup {restore.backup_id}.", messages.SUCCESS)
        elif restore.status == RunStatus.FAILED:
            shown = failures.tenant_message(restore.status_message, restore.resource.provider)
            self.message_user(request, f"The restore failed: {shown}", messages.ERROR)
        else:
            self.message_user(request, "Restore queued: the resource's page shows how it went.")

    @staticmethod
    def _may_restore(request: HttpRequest, backup: Backup) -> bool:
        return backup.status == RunStatus.COMPLETED and can_on(
            request, Action.MANAGE_RESOURCE, backup.resource)
