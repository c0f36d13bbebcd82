"""Backups record whether they were dumped from the resource or uploaded as a dump."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("resourcemanager", "0014_backups"),
    ]

    operations = [
        migrations.AddField(
            model_name="backup",
            name="origin",
            field=models.CharField(choices=[("backup", "made by BACKUP"), ("import", "uploaded by IMPORT")], default="backup", editable=False, max_length=16),
        ),
    ]
