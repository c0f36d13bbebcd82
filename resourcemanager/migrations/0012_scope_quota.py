"""Quotas platform operators set on a scope (``resourcemanager.resources.quotas``)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("resourcemanager", "0011_owner_credentials")]

    operations = [
        migrations.CreateModel(
            name="ScopeQuota",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                           verbose_name="ID")),
                ("scope", models.CharField(max_length=63, unique=True)),
                ("max_resources", models.PositiveIntegerField(blank=True, null=True)),
                ("max_credentials", models.PositiveIntegerField(blank=True, null=True)),
                ("updated_by", models.CharField(blank=True, max_length=150)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
        ),
    ]
