"""Backups of resources kept in the backup store, and their restores."""

import django.db.models.deletion
import resourcemanager.core.fields
import uuid
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("resourcemanager", "0013_data_keys"),
    ]

    operations = [
        migrations.CreateModel(
            name="Backup",
            fields=[
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ("scope", models.CharField(db_index=True, max_length=63)),
                ("status", models.CharField(choices=[("pending", "Pending"), ("running", "Running"), ("completed", "Completed"), ("failed", "Failed")], db_index=True, default="pending", max_length=16)),
                ("status_message", models.TextField(blank=True)),
                ("format", models.CharField(editable=False, max_length=32)),
                ("compressed", models.BooleanField(editable=False)),
                ("object_key", models.CharField(editable=False, max_length=512)),
                ("data_key", resourcemanager.core.fields.EncryptedTextField(editable=False)),
                ("size", models.BigIntegerField(blank=True, editable=False, null=True)),
                ("sha256", models.CharField(blank=True, editable=False, max_length=64)),
                ("dump_size", models.BigIntegerField(blank=True, editable=False, null=True)),
                ("duration", models.FloatField(blank=True, editable=False, null=True)),
                ("created_by", models.CharField(max_length=150)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("completed_at", models.DateTimeField(blank=True, null=True)),
                ("resource", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="backups", to="resourcemanager.resource")),
            ],
            options={
                "ordering": ["-created_at"],
            },
        ),
        migrations.CreateModel(
            name="Restore",
            fields=[
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ("scope", models.CharField(db_index=True, max_length=63)),
                ("status", models.CharField(choices=[("pending", "Pending"), ("running", "Running"), ("completed", "Completed"), ("failed", "Failed")], db_index=True, default="pending", max_length=16)),
                ("status_message", models.TextField(blank=True)),
                ("duration", models.FloatField(blank=True, editable=False, null=True)),
                ("created_by", models.CharField(max_length=150)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("completed_at", models.DateTimeField(blank=True, null=True)),
                ("backup", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="restores", to="resourcemanager.backup")),
                ("resource", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="restores", to="resourcemanager.resource")),
            ],
            options={
                "ordering": ["-created_at"],
            },
        ),
    ]
