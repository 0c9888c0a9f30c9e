"""Picks what to do from `django.db.connection.vendor`, as wagtail's search migrations do."""

from django.db import connection, migrations


def by_vendor(apps, schema_editor):
    Note = apps.get_model("legacy", "Note")
    if connection.vendor == "postgresql":
        text = "vendor postgresql"
    elif connection.vendor == "mysql":
        text = "vendor mysql"
    else:
        text = f"vendor {connection.vendor}"
    Note.objects.create(text=text)


class Migration(migrations.Migration):
    dependencies = [("legacy", "0003_raw_cursor")]
    operations = [migrations.RunPython(by_vendor, migrations.RunPython.noop)]
