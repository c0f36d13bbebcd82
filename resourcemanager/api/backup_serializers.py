"""What the API shows of backups, restores, cleanups and clones (never a key), and the
requests of RESTORE, CLEANUP and CLONE."""

from __future__ import annotations

from rest_framework import serializers

from resourcemanager.api.serializers import FAILURE_HELP
from resourcemanager.api.strict import StrictInput
from resourcemanager.backups.models import Backup, Cleanup, Clone, Restore
from resourcemanager.resources import failures


class _RunSerializer(serializers.ModelSerializer):
    """A run of a resource's data operation: its status message as tenants read it."""

    status_message = serializers.SerializerMethodField(help_text=FAILURE_HELP)

    def get_status_message(self, run: Backup | Restore | Cleanup | Clone) -> str:
        return failures.tenant_message(run.status_message, run.resource.provider)


class BackupSerializer(_RunSerializer):
    class Meta:
        model = Backup
        fields = ["id", "resource", "status", "status_message", "format", "size", "sha256",
                  "dump_size", "origin", "duration", "scheduled", "template_name",
                  "created_by", "created_at", "started_at", "completed_at"]
        read_only_fields = fields
        extra_kwargs = {"dump_size": {"help_text": "Bytes of the dump itself (so far, while "
                                      "the backup runs)."}}


class RestoreSerializer(_RunSerializer):
    class Meta:
        model = Restore
        fields = ["id", "resource", "backup", "status", "status_message", "restored",
                  "duration", "created_by", "created_at", "started_at", "completed_at"]
        read_only_fields = fields
        extra_kwargs = {"restored": {"help_text": "Bytes of the backup's dump restored so "
                                     "far (its dump_size once it completed)."}}


class TemplateRequestSerializer(StrictInput, serializers.Serializer):
    name = serializers.CharField(
        allow_null=True, allow_blank=True,
        help_text="The template's name, unique in the scope; null or empty: the backup is "
                  "no longer a template.")


class RestoreRequestSerializer(StrictInput, serializers.Serializer):
    backup = serializers.CharField(
        help_text="Id (or template name) of a completed backup of this resource, or of "
                  "another resource of the scope whose dump format this one takes (same "
                  "provider class).")
    confirm = serializers.CharField(
        required=False,
        help_text="The resource's name: the restore replaces its data with the backup's.")


class CleanupSerializer(_RunSerializer):
    class Meta:
        model = Cleanup
        fields = ["id", "resource", "template", "status", "status_message", "duration",
                  "created_by", "created_at", "started_at", "completed_at"]
        read_only_fields = fields


class CloneSerializer(_RunSerializer):
    class Meta:
        model = Clone
        fields = ["id", "resource", "source", "status", "status_message", "copied", "duration",
                  "created_by", "created_at", "started_at", "completed_at"]
        read_only_fields = fields
        extra_kwargs = {"resource": {"help_text": "The new resource, holding the copy."},
                        "source": {"help_text": "The resource whose data is copied."},
                        "copied": {"help_text": "Bytes of the dump copied so far."}}


class CleanupRequestSerializer(StrictInput, serializers.Serializer):
    confirm = serializers.CharField(
        required=False, help_text="The resource's name: the cleanup drops all its data.")
    template = serializers.CharField(
        required=False,
        help_text="Id of a completed backup of the scope (of any of its resources, of the "
                  "dump format this one takes) restored once the resource is empty.")


class CloneRequestSerializer(StrictInput, serializers.Serializer):
    name = serializers.CharField(help_text="The new resource's name.")
    provider = serializers.CharField(
        required=False,
        help_text="Provider instance (key) or class of the new resource; default: the "
                  "source's instance. Its class must be the source's.")
    tags = serializers.ListField(child=serializers.CharField(), required=False)
