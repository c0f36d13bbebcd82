"""Data keys: one per scope (and one for the platform), stored wrapped by the KMS
(``resourcemanager.core.datakeys``). Values written before stay readable under
``RM_ENCRYPTION_KEYS`` until ``rotate_encryption_keys`` moves them under their scope's key."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("resourcemanager", "0012_scope_quota")]

    operations = [
        migrations.CreateModel(
            name="DataKey",
            fields=[
                ("id", models.CharField(editable=False, max_length=16, primary_key=True, serialize=False)),
                ("scope", models.CharField(blank=True, db_index=True, max_length=63)),
                ("current", models.BooleanField(default=True, null=True)),
                ("kms", models.CharField(max_length=16)),
                ("wrapped", models.TextField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("retired_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("scope", "current"), name="one_current_data_key")],
            },
        ),
    ]
