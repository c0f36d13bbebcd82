"""Every managed resource gets its owner's credential: its current login becomes the
owner's, listed and rotated like the others (``resourcemanager.resources.owners``)."""

from django.db import migrations
from django.db.models import TextField, Value
from django.db.models.functions import Cast

OWNER_HOLDER = "resource:owner"


def open_owner_credentials(apps, schema_editor):
    resource_model = apps.get_model("resourcemanager", "Resource")
    credential_model = apps.get_model("resourcemanager", "Credential")
    resources = (resource_model.objects.filter(managed=True, backend_name__isnull=False,
                                               credentials__isnull=False)
                 .exclude(status="deleted")
                 .exclude(issued_credentials__holder=OWNER_HOLDER))
    # The stored token is copied as it is: decrypting and encrypting again would need the
    # data keys of later migrations.
    resources = resources.annotate(token=Cast("credentials", output_field=TextField()))
    for resource in resources.iterator():
        credential_model.objects.create(
            scope=resource.scope, resource=resource, holder=OWNER_HOLDER, access="owner",
            login=resource.backend_name, status="active",
            secret=Value(resource.token, output_field=TextField()),
            issued_by="system")


class Migration(migrations.Migration):
    dependencies = [("resourcemanager", "0010_scope_settings")]

    operations = [migrations.RunPython(open_owner_credentials, migrations.RunPython.noop)]
