"""A delivery of a ``credential.*`` event carries what the event says of the credential."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("consumers", "0004_delivery_error_time")]

    operations = [
        migrations.AddField(
            model_name="delivery",
            name="credential",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
