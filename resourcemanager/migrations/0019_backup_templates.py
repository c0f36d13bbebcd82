"""A backup may carry a name of its scope's own: a template, restored by name, which
retention never removes."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("resourcemanager", "0018_data_copies"),
    ]

    operations = [
        migrations.AddField(
            model_name="backup",
            name="template_name",
            field=models.CharField(blank=True, default="", editable=False, max_length=63),
        ),
        migrations.AddConstraint(
            model_name="backup",
            constraint=models.UniqueConstraint(condition=models.Q(("template_name", ""), _negated=True), fields=("scope", "template_name"), name="unique_backup_template_name"),
        ),
    ]
