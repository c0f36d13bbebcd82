"""Backup schedules with their retention; a backup notes whether its schedule made it
and what its database held (the restore drill's manifest)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("resourcemanager", "0015_backup_origin"),
    ]

    operations = [
        migrations.CreateModel(
            name="BackupSchedule",
            fields=[
                ("resource", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name="backup_schedule", serialize=False, to="resourcemanager.resource")),
                ("scope", models.CharField(db_index=True, max_length=63)),
                ("interval", models.CharField(choices=[("daily", "Daily"), ("weekly", "Weekly"), ("hours", "Hours")], default="daily", max_length=16)),
                ("hours", models.PositiveSmallIntegerField(blank=True, null=True)),
                ("keep_daily", models.PositiveSmallIntegerField(default=7)),
                ("keep_weekly", models.PositiveSmallIntegerField(default=4)),
                ("next_run_at", models.DateTimeField(db_index=True)),
                ("last_run_at", models.DateTimeField(blank=True, editable=False, null=True)),
                ("last_message", models.TextField(blank=True, editable=False)),
                ("updated_by", models.CharField(max_length=150)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
        ),
        migrations.AddField(
            model_name="backup",
            name="manifest",
            field=models.JSONField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="backup",
            name="scheduled",
            field=models.BooleanField(default=False, editable=False),
        ),
    ]
