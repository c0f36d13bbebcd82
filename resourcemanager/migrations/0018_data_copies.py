"""Runs of CLEANUP (a resource emptied) and CLONE (a new resource made from the data of
another one, or from a backup)."""

import django.db.models.deletion
import uuid
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("resourcemanager", "0017_size_quotas"),
    ]

    operations = [
        migrations.CreateModel(
            name="Cleanup",
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
                ("resource", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="cleanups", to="resourcemanager.resource")),
                ("template", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name="cleanups", to="resourcemanager.backup")),
            ],
            options={
                "ordering": ["-created_at"],
            },
        ),
        migrations.CreateModel(
            name="Clone",
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
                ("copied", models.BigIntegerField(default=0, editable=False)),
                ("backup", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name="clones", to="resourcemanager.backup")),
                ("resource", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="clone_runs", to="resourcemanager.resource")),
                ("source", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="clones", to="resourcemanager.resource")),
            ],
            options={
                "ordering": ["-created_at"],
            },
        ),
    ]
