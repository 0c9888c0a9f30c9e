"""Writes through `django.db.connection.cursor()`: no alias, no router."""

from django.db import connection, migrations


def write(apps, schema_editor):
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO legacy_note (text) VALUES (%s)", ["raw cursor"])


class Migration(migrations.Migration):
    dependencies = [("legacy", "0002_permissions_without_using")]
    operations = [migrations.RunPython(write, migrations.RunPython.noop)]
