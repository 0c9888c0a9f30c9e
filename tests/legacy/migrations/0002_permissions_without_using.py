"""As wagtail's 0086 does: create_permissions() without `using` (it defaults to "default"), then read them."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def add_permissions(apps, schema_editor):
    app_config = apps.get_app_config("legacy")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0)
    app_config.models_module = None
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Note = apps.get_model("legacy", "Note")
    content_type = ContentType.objects.get_by_natural_key("legacy", "note")
    permission = Permission.objects.get(content_type=content_type, codename="audit_note")
    Note.objects.create(text=f"permission {permission.codename} of {content_type.model}")


class Migration(migrations.Migration):
    dependencies = [("legacy", "0001_initial")]
    operations = [migrations.RunPython(add_permissions, migrations.RunPython.noop)]
