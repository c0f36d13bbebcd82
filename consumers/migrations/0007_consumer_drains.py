"""A consumer records when the drain queued for it is to run, and until when a drain
holds it (``consumers.drains``)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("consumers", "0006_consumer_breaker")]

    operations = [
        migrations.AddField(
            model_name="consumer",
            name="drain_queued_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="consumer",
            name="draining_until",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
