"""Data written the ways third-party migrations write it, none of them naming a database alias."""

from django.contrib.auth.management import create_permissions
from django.db import connection, migrations

# One vendor-specific statement per engine; each gives "a+b".
AGGREGATE = {
    "postgresql": "SELECT string_agg(x, '+' ORDER BY x) FROM (VALUES ('a'), ('b')) AS v(x)",
    "mysql": "SELECT GROUP_CONCAT(x ORDER BY x SEPARATOR '+') FROM (SELECT 'a' AS x UNION SELECT 'b') AS v",
    "sqlite": "SELECT group_concat(x, '+') FROM (SELECT 'a' AS x UNION SELECT 'b' ORDER BY x)",
}


def seed(apps, schema_editor):
    # (a) as wagtailcore 0086 does: permissions of this app's Meta now, `using` left at "default"
    app_config = apps.get_app_config("corpusapp")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.create(name="Widget twiddlers")
    group.permissions.add(Permission.objects.get(codename="twiddle_widget"))

    # (b) a raw cursor on django.db.connection, no alias
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO corpusapp_note (title, vendor, body) VALUES (%s, %s, %s)",
            ["written through django.db.connection", "", ""],
        )

    # (c) a branch on django.db.connection.vendor, its result written into a row
    Note = apps.get_model("corpusapp", "Note")
    with connection.cursor() as cursor:
        cursor.execute(AGGREGATE[connection.vendor])
        (aggregate,) = cursor.fetchone()
    Note.objects.create(title="vendor", vendor=connection.vendor, body=f"{connection.vendor}:{aggregate}")


def unseed(apps, schema_editor):
    apps.get_model("corpusapp", "Note").objects.all().delete()
    apps.get_model("auth", "Group").objects.filter(name="Widget twiddlers").delete()


class Migration(migrations.Migration):
    dependencies = [("corpusapp", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
