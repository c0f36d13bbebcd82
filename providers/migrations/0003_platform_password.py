"""Provider passwords are platform secrets: under the platform's data key, not a scope's
(no change to the column)."""

from django.db import migrations

import resourcemanager.core.fields


class Migration(migrations.Migration):
    dependencies = [("providers", "0002_default_and_reachability")]

    operations = [
        migrations.AlterField(
            model_name="provider",
            name="password",
            field=resourcemanager.core.fields.EncryptedTextField(blank=True, scope_field=None),
        ),
    ]
