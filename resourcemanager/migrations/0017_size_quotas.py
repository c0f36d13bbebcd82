"""Size quotas: what the CHECK sweep measured of each resource, its own limit, whether it
is frozen over a limit (``resourcemanager.resources.freezing``), and the scope's total."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("resourcemanager", "0016_backup_schedules")]

    operations = [
        migrations.AddField(
            model_name="resource", name="size",
            field=models.BigIntegerField(blank=True, editable=False, null=True)),
        migrations.AddField(
            model_name="resource", name="size_objects",
            field=models.BigIntegerField(blank=True, editable=False, null=True)),
        migrations.AddField(
            model_name="resource", name="size_measured_at",
            field=models.DateTimeField(blank=True, editable=False, null=True)),
        migrations.AddField(
            model_name="resource", name="max_bytes",
            field=models.BigIntegerField(blank=True, editable=False, null=True)),
        migrations.AddField(
            model_name="resource", name="frozen",
            field=models.BooleanField(default=False, editable=False)),
        migrations.AddField(
            model_name="resource", name="frozen_reason",
            field=models.TextField(blank=True, editable=False)),
        migrations.AddField(
            model_name="resource", name="frozen_at",
            field=models.DateTimeField(blank=True, editable=False, null=True)),
        migrations.AddField(
            model_name="scopequota", name="max_bytes",
            field=models.BigIntegerField(blank=True, null=True)),
    ]
