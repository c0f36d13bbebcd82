"""A consumer counts its deliveries' failures in a row and may be paused
(``consumers.breaker``). The database's own default lets the previous version add
consumers during an upgrade."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("consumers", "0005_delivery_credential")]

    operations = [
        migrations.AddField(
            model_name="consumer",
            name="failures_in_a_row",
            field=models.PositiveIntegerField(db_default=0, default=0, editable=False),
        ),
        migrations.AddField(
            model_name="consumer",
            name="paused_until",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
