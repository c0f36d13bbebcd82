"""What the API shows of backups and restores (never a key), and the restore request."""

from __future__ import annotations

from rest_framework import serializers

from resourcemanager.api.serializers import FAILURE_HELP
from resourcemanager.api.strict import StrictInput
from resourcemanager.backups.models import Backup, Restore
from resourcemanager.resources import failures


class BackupSerializer(serializers.ModelSerializer):
    status_message = serializers.SerializerMethodField(help_text=FAILURE_HELP)

    class Meta:
        model = Backup
        fields = ["id", "resource", "status", "status_message", "format", "size", "sha256",
                  "dump_size", "origin", "duration", "scheduled", "created_by", "created_at",
                  "started_at", "completed_at"]
        read_only_fields = fields

    def get_status_message(self, backup: Backup) -> str:
        return failures.tenant_message(backup.status_message, backup.resource.provider)


class RestoreSerializer(serializers.ModelSerializer):
    status_message = serializers.SerializerMethodField(help_text=FAILURE_HELP)

    class Meta:
        model = Restore
        fields = ["id", "resource", "backup", "status", "status_message", "duration",
                  "created_by", "created_at", "started_at", "completed_at"]
        read_only_fields = fields

    def get_status_message(self, restore: Restore) -> str:
        return failures.tenant_message(restore.status_message, restore.resource.provider)


class RestoreRequestSerializer(StrictInput, serializers.Serializer):
    backup = serializers.CharField(help_text="Id of a completed backup of this resource.")
    confirm = serializers.CharField(
        required=False,
        help_text="The resource's name: the restore replaces its data with the backup's.")
