from django.db import migrations, models


def separate_errors_from_skips(apps, schema_editor):
    """A skipped delivery's reason was kept as its last error: it moves to
    ``skip_reason``. A failed or retrying delivery was last saved by its error, so
    ``updated_at`` is the error's time; for a delivered one the time is unknown (its
    last save was the success) and stays empty."""
    Delivery = apps.get_model("consumers", "Delivery")
    Delivery.objects.filter(status="skipped").exclude(last_error="").update(
        skip_reason=models.F("last_error"), last_error="")
    Delivery.objects.filter(status__in=("failed", "pending")).exclude(last_error="").update(
        last_error_at=models.F("updated_at"))


class Migration(migrations.Migration):

    dependencies = [
        ('consumers', '0003_credential_access'),
    ]

    operations = [
        migrations.AddField(
            model_name='delivery',
            name='last_error_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='delivery',
            name='skip_reason',
            field=models.TextField(blank=True),
        ),
        migrations.RunPython(separate_errors_from_skips, migrations.RunPython.noop),
    ]
